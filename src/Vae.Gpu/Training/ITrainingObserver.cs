namespace Vae.Gpu.Training;

/// <summary>What a long run reports as it goes; the CLI shows it as a progress bar or as plain lines.</summary>
public interface ITrainingObserver
{
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
    int _lastTenth = -1;

    public PlainObserver(TextWriter? output = null) => _out = output ?? Console.Out;

    public void Log(string line) => _out.WriteLine(line);

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
