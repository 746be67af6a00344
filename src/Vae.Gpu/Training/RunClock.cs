namespace Vae.Gpu.Training;

/// <summary>
/// The time left for the whole run, not just the epoch: the rest of this epoch at its current rate, its test
/// pass, the epochs after it at the pace of the last whole epoch (training, test and save, measured), and the
/// work that follows training (the analysis), given in training images' worth of work.
/// </summary>
public sealed class RunClock
{
    /// <summary>A test or analysis image costs about this share of a training image: forward only, no backward or Adam.</summary>
    public const double ForwardShare = 1.0 / 3;

    readonly int _epochs, _batchSize, _testImages;
    readonly double _afterTraining;
    double? _epochSeconds;

    /// <param name="afterTraining">the work after the last epoch, in training images (0 for none).</param>
    public RunClock(int epochs, int batchSize, int testImages, double afterTraining)
    {
        _epochs = epochs;
        _batchSize = batchSize;
        _testImages = testImages;
        _afterTraining = afterTraining;
    }

    /// <summary>Records a whole epoch's wall time (training, test, save): the pace of the epochs still to come.</summary>
    public void EpochDone(double seconds) => _epochSeconds = seconds;

    /// <summary>The estimate in the middle of <paramref name="epoch"/>, <paramref name="batch"/> of
    /// <paramref name="batches"/> done at <paramref name="imagesPerSecond"/>; null before a rate is known.</summary>
    public TimeSpan? Left(int epoch, int batch, int batches, double imagesPerSecond)
    {
        if (!(imagesPerSecond > 0) || !double.IsFinite(imagesPerSecond)) return null;
        double testSeconds = _testImages * ForwardShare / imagesPerSecond;
        double thisEpoch = (double)(batches - batch) * _batchSize / imagesPerSecond + testSeconds;
        double perEpoch = _epochSeconds ?? (double)batches * _batchSize / imagesPerSecond + testSeconds;
        double seconds = thisEpoch + (_epochs - epoch) * perEpoch + _afterTraining / imagesPerSecond;
        return TimeSpan.FromSeconds(seconds);
    }

    /// <summary>"41 min", "1 h 05 min", "50 s".</summary>
    public static string Format(TimeSpan t) => t.TotalSeconds < 60 ? $"{t.TotalSeconds:F0} s"
        : t.TotalHours < 1 ? $"{t.TotalMinutes:F0} min"
        : $"{(int)t.TotalHours} h {t.Minutes:00} min";
}
