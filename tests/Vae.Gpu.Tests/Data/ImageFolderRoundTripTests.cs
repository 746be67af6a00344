using Vae.Gpu.Data;
using Vae.Gpu.Devices;
using Vae.Gpu.Training;

namespace Vae.Gpu.Tests.Data;

/// <summary>
/// Fashion-MNIST written out as PNGs under class folders (train/ and test/, files named by their index) trains
/// to exactly the losses of the same images as IDX files, with the same seed: the decoder, the order and the
/// split lose nothing.
/// </summary>
public class ImageFolderRoundTripTests
{
    [SkippableFact, Trait("Category", "Slow")]
    public void PngsInClassFoldersTrainAsTheIdxFilesDo()
    {
        SyntheticData.SkipWithoutRealData();
        var (train, test) = FashionMnist.Load(null);
        train = train.First(320);
        test = test.First(96);
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["idx"]);
        Idx.WriteImages(dir["idx/train-images-idx3-ubyte.gz"], train.Count, 28, 28, train.Pixels);
        Idx.WriteLabels(dir["idx/train-labels-idx1-ubyte.gz"], train.Labels);
        Idx.WriteImages(dir["idx/t10k-images-idx3-ubyte.gz"], test.Count, 28, 28, test.Pixels);
        Idx.WriteLabels(dir["idx/t10k-labels-idx1-ubyte.gz"], test.Labels);
        foreach (var (split, folder) in new[] { (train, "train"), (test, "test") })
            for (int i = 0; i < split.Count; i++)
            {
                // Folder "3-Dress": ordinal order of the names is label order.
                string label = $"{split.Labels[i]}-{FashionMnist.ClassNames[split.Labels[i]].Replace('/', '-')}";
                DataSourceTests.WritePng(Path.Combine(dir.Path, "png", folder, label, $"{i:D5}.png"), 1, 28, 28, split.Pixels[(i * 784)..((i + 1) * 784)]);
            }

        var fromPng = DataSource.Load(new DataOptions(dir["png"]));
        Assert.Equal(train.Pixels, fromPng.Train.Pixels);
        Assert.Equal(test.Labels, fromPng.Test.Labels);

        Metrics Train(string data, string outDir) => new Trainer(
            new TrainOptions { OutDir = outDir, DataDir = data, Epochs = 2, BatchSize = 64, NoTune = true, Seed = 3 },
            new PlainObserver(TextWriter.Null)).Run(device: TestDevices.Get(AcceleratorChoice.Cpu)).Metrics;
        var a = Train(dir["idx"], dir["run-idx"]);
        var b = Train(dir["png"], dir["run-png"]);
        Assert.Equal(a.Epochs.Select(e => (e.TrainLoss, e.TestLoss)), b.Epochs.Select(e => (e.TrainLoss, e.TestLoss)));
        Assert.True(a.Epochs[^1].TrainLoss < a.Epochs[0].TrainLoss);
    }
}
