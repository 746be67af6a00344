using Vae.Gpu.Analysis;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Model;
using Vae.Gpu.Training;

namespace Vae.Gpu.Tests.Interop;

/// <summary>A state_dict with no vae-gpu metadata (what PyTorch writes), read without Python.</summary>
public class StateDictImportTests
{
    [SkippableFact]
    public void HyperparametersComeFromTheShapesAndTheModelIsAnalyzed()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        using var dir = new TempDir();
        var config = new VaeConfig(8, 12, 6, 5);
        using (var source = new Vae.Gpu.Model.VAE(device, config, seed: 4))
        {
            var values = source.Parameters.ToHost();
            // PyTorch's save_file: tensors sorted by name, no __metadata__ of ours.
            Safetensors.Write(Checkpoint.ModelPath(dir.Path),
                source.Parameters.Parameters.OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => new NamedTensor(p.Name, p.Shape, values[p.Name])),
                new Dictionary<string, string>());
        }
        var checkpoint = Checkpoint.Load(dir.Path);
        Assert.True(checkpoint.FromPyTorch);
        Assert.Equal(config, checkpoint.Config);

        var report = LatentAnalysis.Run(new AnalysisOptions(dir.Path, dir["a"]), null, device, SyntheticData.Make("test", 50, 3));
        Assert.Equal(2, report.Dims.Length);
        string md = File.ReadAllText(dir["a/report.md"]);
        Assert.Contains("a PyTorch state_dict", md);
        Assert.DoesNotContain(dir.Path, md);

        var ex = Assert.Throws<VaeException>(() => Checkpoint.Load(dir.Path, readOptimizer: true));
        Assert.Contains("PyTorch state_dict without Adam's state", ex.Message);
    }

    [Fact]
    public void AFileThatIsNotTheProblemSetsModelIsRefusedInOneLine()
    {
        using var dir = new TempDir();
        Safetensors.Write(Checkpoint.ModelPath(dir.Path), new[] { new NamedTensor("fc.weight", new[] { 2, 2 }, new float[4]) }, new Dictionary<string, string>());
        var ex = Assert.Throws<VaeException>(() => Checkpoint.Load(dir.Path));
        Assert.Contains("not a state_dict of the problem set's VAE", ex.Message);
    }
}
