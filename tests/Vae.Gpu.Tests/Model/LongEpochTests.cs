using Vae.Gpu.Devices;
using Vae.Gpu.Model;
using Vae.Gpu.Optim;
using Vae.Gpu.Tensors;
using Vae.Gpu.Training;

namespace Vae.Gpu.Tests.Model;

/// <summary>
/// Epochs longer than the device's ring of loss slots, with each accelerator's real loss-read interval. The
/// ring is shrunk to 64 slots (the real one has 4,096: --batch 14 or less overflows it) so that the epoch
/// wraps it several times, at offsets that the interval does not divide, in a few hundred batches.
/// </summary>
public class LongEpochTests
{
    [Trait("Category", "Slow")]
    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void AnEpochWithMoreBatchesThanLossSlotsTrains(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        const int slots = 64;
        int batches = 3 * slots + 2 * device.Profile.LossReadInterval + 3;
        var train = SyntheticData.Make("train", batches, 1);
        var test = SyntheticData.Make("test", 10, 2);
        EpochMetrics Train(int lossSlots)
        {
            using var dir = new TempDir();
            var options = new TrainOptions { OutDir = dir.Path, Epochs = 1, BatchSize = 1, C1 = 1, C2 = 1, Latent = 2, Kernel = 3, LossSlots = lossSlots };
            return Assert.Single(new Trainer(options, new PlainObserver(TextWriter.Null)).Run(device: device, data: (train, test)).Metrics.Epochs);
        }
        var wrapped = Train(slots);
        Assert.Equal(batches, wrapped.TrainImages);
        Assert.True(double.IsFinite(wrapped.TrainLoss) && wrapped.TrainLoss > 0, $"train loss {wrapped.TrainLoss}");
        // Every batch's loss is read exactly once: the same run with a ring that never wraps sums the same
        // float losses (in double, grouped by read blocks, so equal to rounding).
        var unwrapped = Train(Vae.Gpu.Model.VAE.DefaultLossCapacity);
        Assert.True(Math.Abs(unwrapped.TrainLoss - wrapped.TrainLoss) <= 1e-12 * unwrapped.TrainLoss, $"{wrapped.TrainLoss} vs {unwrapped.TrainLoss}");
        Assert.Equal(unwrapped.TestLoss, wrapped.TestLoss);
    }
}
