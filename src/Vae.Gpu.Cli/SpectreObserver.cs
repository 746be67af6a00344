using Spectre.Console;
using Vae.Gpu.Training;

namespace Vae.Gpu.Cli;

/// <summary>A progress bar per epoch with the running loss per image and images/s, for terminals.</summary>
sealed class SpectreObserver : ITrainingObserver
{
    readonly ProgressContext _ctx;
    ProgressTask? _task;
    int _taskEpoch;

    public SpectreObserver(ProgressContext ctx) => _ctx = ctx;

    public void Log(string line) => AnsiConsole.WriteLine(Program.Say(line));

    public void Batch(int epoch, int epochs, int batch, int batches, double lossPerImage, double imagesPerSecond, TimeSpan? runLeft)
    {
        if (_task is null || _taskEpoch != epoch)
        {
            _task = _ctx.AddTask($"epoch {epoch}/{epochs}", maxValue: batches);
            _taskEpoch = epoch;
        }
        _task.Value = batch;
        string left = runLeft is { } t ? $"  run: {RunClock.Format(t)} left" : "";
        _task.Description = $"epoch {epoch}/{epochs}  loss/image {lossPerImage:F2}  {imagesPerSecond:F0} img/s{left}";
    }

    public void EpochDone(EpochMetrics m, int epochs)
    {
        AnsiConsole.WriteLine($"Training loss [{m.Epoch}/{epochs}]: {m.TrainLoss:F4}");
        AnsiConsole.WriteLine($"Test loss [{m.Epoch}/{epochs}]: {m.TestLoss:F4}  ({m.ImagesPerSecond:F1} images/s, {m.Seconds:F1} s)");
    }

    /// <summary>Runs <paramref name="work"/> under a progress display when stdout is a terminal, plain lines otherwise.</summary>
    public static T Run<T>(Func<ITrainingObserver, T> work)
    {
        if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
            return work(new PlainObserver(name: Program.OptionFor));
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx => result = work(new SpectreObserver(ctx)));
        return result;
    }
}
