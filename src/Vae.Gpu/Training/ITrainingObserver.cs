namespace Vae.Gpu.Training;

/// <summary>What a long run reports as it goes; the CLI shows it as a progress bar or as plain lines.</summary>
public interface ITrainingObserver
{
    /// <summary>A line of the run's log; parameters in it are tokens (<c>«ResumeDir»</c>, see <see cref="Devices.VaeException.Render(string, Func{string, string})"/>) for the front end to name.</summary>
    void Log(string line);
    /// <summary>Called every few batches with the mean loss per image so far in the epoch and the time left for
    /// the whole run (<see cref="RunClock"/>; null before it can be estimated).</summary>
    void Batch(int epoch, int epochs, int batch, int batches, double lossPerImage, double imagesPerSecond, TimeSpan? runLeft);
    void EpochDone(EpochMetrics metrics, int epochs);
}

/// <summary>Plain lines (for logs and pipes): the problem set's per-epoch line and a line every tenth of an epoch.</summary>
public sealed class PlainObserver : ITrainingObserver
{
    readonly TextWriter _out;
    readonly Func<string, string> _name;
    int _lastTenth = -1;

    /// <param name="name">how the front end names a parameter (default: its API name).</param>
    public PlainObserver(TextWriter? output = null, Func<string, string>? name = null)
    {
        _out = output ?? Console.Out;
        _name = name ?? (n => n);
    }

    public void Log(string line) => _out.WriteLine(Devices.VaeException.Render(line, _name));

    public void Batch(int epoch, int epochs, int batch, int batches, double lossPerImage, double imagesPerSecond, TimeSpan? runLeft)
    {
        int tenth = batch * 10 / batches;
        if (tenth == _lastTenth && batch != batches) return;
        _lastTenth = tenth;
        string left = runLeft is { } t ? $"  about {RunClock.Format(t)} left in the run" : "";
        _out.WriteLine($"  epoch {epoch}/{epochs} batch {batch}/{batches}  loss/image {lossPerImage:F4}  {imagesPerSecond:F1} images/s{left}");
    }

    public void EpochDone(EpochMetrics m, int epochs)
    {
        _lastTenth = -1;
        _out.WriteLine($"Training loss [{m.Epoch}/{epochs}]: {m.TrainLoss:F4}");
        _out.WriteLine($"Test loss [{m.Epoch}/{epochs}]: {m.TestLoss:F4}  ({m.ImagesPerSecond:F1} images/s, {m.Seconds:F1} s)");
    }
}
