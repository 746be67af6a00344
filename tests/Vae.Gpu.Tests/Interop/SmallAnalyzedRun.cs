using System.Text.Json.Nodes;

namespace Vae.Gpu.Tests.Interop;

/// <summary>One small Vae.Gpu run with its analysis, trained on first use and shared by the oracle tests.</summary>
public sealed class SmallAnalyzedRun : IDisposable
{
    readonly TempDir _dir = new();
    readonly Lazy<string> _run;

    public SmallAnalyzedRun() => _run = new(() =>
    {
        var (code, _, err) = Cli.CliTests.Run("run", "--out", _dir["run"], "--epochs", "1", "--max-batches", "2", "--batch", "32",
            "--c1", "4", "--c2", "8", "--latent", "5", "--accelerator", "cpu", "--eval-images", "200");
        Assert.True(code == 0, err);
        return _dir["run"];
    });

    /// <summary>The run folder (model.safetensors, metrics.json and analyze's outputs).</summary>
    public string Run => _run.Value;

    /// <summary>A path inside this fixture's own temporary folder.</summary>
    public string this[string name] => _dir[name];

    public void Dispose() => _dir.Dispose();
}
