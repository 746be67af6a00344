using Vae.Gpu.Training;

namespace Vae.Gpu.Tests.Training;

public class RunClockTests
{
    [Fact]
    public void TheFirstEpochExtrapolatesAndLaterEpochsUseTheMeasuredPaceAndTheAnalysisIsAdded()
    {
        // 15 epochs of 100 batches of 128; 10,000 test images; analysis worth 30,000 training images.
        var clock = new RunClock(15, 128, 10_000, 30_000);
        const double rate = 320;
        double test = 10_000 / 3.0 / rate, epoch = 100 * 128 / rate + test;
        var left = clock.Left(1, 40, 100, rate)!.Value.TotalSeconds;
        Assert.Equal(60 * 128 / rate + test + 14 * epoch + 30_000 / rate, left, 6);
        clock.EpochDone(200);
        left = clock.Left(2, 40, 100, rate)!.Value.TotalSeconds;
        Assert.Equal(60 * 128 / rate + test + 13 * 200 + 30_000 / rate, left, 6);
        // The last batch of the last epoch: its test pass and the analysis remain.
        Assert.Equal(test + 30_000 / rate, clock.Left(15, 100, 100, rate)!.Value.TotalSeconds, 6);
        Assert.Null(clock.Left(1, 1, 100, 0));
        Assert.Null(clock.Left(1, 1, 100, double.NaN));
    }

    [Theory]
    [InlineData(50, "50 s")]
    [InlineData(41 * 60 + 10, "41 min")]
    [InlineData(3600 + 5 * 60, "1 h 05 min")]
    [InlineData(12 * 3600 + 59 * 60 + 50, "12 h 59 min")]
    public void TimesReadAsPeopleSayThem(double seconds, string expected) =>
        Assert.Equal(expected, RunClock.Format(TimeSpan.FromSeconds(seconds)));

    [SkippableFact]
    public void TrainingLinesShowTheTimeLeftForTheWholeRun()
    {
        var device = TestDevices.Get(Vae.Gpu.Devices.AcceleratorChoice.Cpu);
        using var dir = new TempDir();
        var output = new StringWriter();
        new Trainer(new TrainOptions { OutDir = dir.Path, Epochs = 2, BatchSize = 8, C1 = 2, C2 = 2, Latent = 2, MaxBatches = 3, AfterTraining = 1e9 },
            new PlainObserver(output)).Run(default, device, (SyntheticData.Make("train", 24, 1), SyntheticData.Make("test", 8, 2)));
        var lines = output.ToString().Split('\n').Where(l => l.Contains("batch ")).ToList();
        Assert.NotEmpty(lines);
        // A billion training images' worth of analysis dwarfs the tiny training: hours remain on every line.
        Assert.All(lines, l => Assert.Matches(@"about \d+ h \d\d min left in the run", l));
    }
}
