using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Vae.Gpu.Tests.Interop;

/// <summary>
/// The PyTorch programs that judge Vae.Gpu check themselves first (examples/pytorch/oracle.py): they compute with
/// PyTorch's native kernels, whose convolutions at the model's shapes must agree with float64; a PyTorch that
/// is wrong on this CPU is reported as such in one line, and a peer in a speed comparison says whether its
/// results are right. A fault hook (VAE_GPU_ORACLE_FAULT) makes PyTorch wrong on every machine for these tests.
/// </summary>
[Trait("Category", "Slow")]
public class PyTorchOracleTests(SmallAnalyzedRun fixture) : IClassFixture<SmallAnalyzedRun>
{
    static void SkipWithoutPyTorchOrData()
    {
        Skip.If(Repo.PyTorchMissing is not null, Repo.PyTorchMissing);
        SyntheticData.SkipWithoutRealData();
    }

    static (int Code, string Output) Python(string script, string arguments, params (string Name, string Value)[] environment)
    {
        var psi = new ProcessStartInfo("python3", $"\"{PyTorchInteropTests.Example(script)}\" {arguments}") { WorkingDirectory = Repo.Root };
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        return Repo.Run(psi, 300);
    }

    /// <summary>The arguments that make <paramref name="script"/> judge <paramref name="run"/>.</summary>
    string Arguments(string script, string run) => script == "reproduce.py"
        ? $"\"{run}\" \"{fixture.Run}\" \"{fixture["pytorch-out"]}\""
        : $"\"{run}\" \"{SyntheticData.RealDataDir}\" --images 20 --k 2";

    static void AssertOneLine(int code, int expectedCode, string output, string expected)
    {
        Assert.True(code == expectedCode, $"exit {code}, not {expectedCode}: {output}");
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got: {output}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("Traceback", output);
    }

    [SkippableTheory, InlineData("reproduce.py"), InlineData("evaluate.py")]
    public void AWrongOracleSaysSoInOneLineAndComparesNothing(string script)
    {
        SkipWithoutPyTorchOrData();
        var fault = ("VAE_GPU_ORACLE_FAULT", "conv_transpose2d");
        var (code, output) = Python(script, Arguments(script, fixture.Run), fault);

        AssertOneLine(code, PyTorchInteropTests.WrongOracleExit, output, "PyTorch cannot be the oracle on this CPU");
        // The transposed convolutions at the run's own shapes (c1 4, c2 8, k 3), computed by the native kernels.
        Assert.Contains("float32 conv_transpose2d (batch ", output);
        Assert.Contains("8 -> 4 channels, 24x24, kernel 3", output);
        Assert.Matches(@"PyTorch [0-9][^,]*, oneDNN [0-9.]+ \(off\)", output);
        Assert.False(Directory.Exists(fixture["pytorch-out"]), "a wrong oracle wrote its outputs");

        // In the suite such an oracle fails the test with its own line, never as a difference from Vae.Gpu.
        var failure = Assert.Throws<Xunit.Sdk.FailException>(() => PyTorchInteropTests.RunOracle(script, Arguments(script, fixture.Run), fault));
        Assert.Equal(output.Trim(), failure.Message);
        Assert.DoesNotContain("differ", failure.Message);
    }

    [SkippableFact]
    public void ThePyTorchPeerSaysWhetherItsResultsAreRightThroughThePathItTrainsWith()
    {
        Skip.If(Repo.PyTorchMissing is not null, Repo.PyTorchMissing);
        const string quick = "--batch 4 --steps 1 --repeats 1";

        var (code, output) = Python("bench.py", $"{quick} --json");
        Assert.True(code == 0, output);
        var doc = JsonNode.Parse(output.Trim().Split('\n')[^1])!;
        string results = doc["results"]!.GetValue<string>();
        // oneDNN's faults depend on the CPU: either verdict may be true here, but it must be one of the two.
        Assert.True(results == "right" || results.StartsWith("WRONG on this CPU (float32 conv"), results);
        Assert.Matches(@"oneDNN [0-9.]+ \(on\)", doc["versions"]!.GetValue<string>());

        (code, output) = Python("bench.py", quick, ("VAE_GPU_ORACLE_FAULT", "conv_transpose2d"));
        Assert.True(code == 0, output);
        Assert.Matches(@"[0-9.]+ images/s .*; results: WRONG on this CPU \(float32 conv_transpose2d \(batch 4, 32 -> 16 channels, 24x24, kernel 3\) is off from float64 by 1, and 1 more shapes are wrong\)", output);
    }

    /// <summary>A run folder spoiled in one way, and the words its one-line error must hold.</summary>
    public static TheoryData<string, string> BadInputs() => new()
    {
        { "missing run folder", "does not exist: give a folder that `vae-gpu train` or `vae-gpu run` wrote" },
        { "truncated model", "is not a readable safetensors file" },
        { "model of another run", "does not match its metrics.json (c1 16 there, 4 in model.safetensors)" },
        { "corrupt metrics", "metrics.json is corrupt" },
        { "no torch", "torch is not installed for" },
    };

    [SkippableTheory, MemberData(nameof(BadInputs))]
    public void TheOraclesRefuseBadInputInOneLine(string spoil, string expected)
    {
        SkipWithoutPyTorchOrData();
        using var dir = new TempDir();
        string run = dir["run"];
        if (spoil != "missing run folder")
        {
            Directory.CreateDirectory(run);
            foreach (var name in new[] { "model.safetensors", "metrics.json" }) File.Copy(Path.Combine(fixture.Run, name), Path.Combine(run, name));
        }
        var environment = new List<(string, string)>();
        switch (spoil)
        {
            case "truncated model":
                var bytes = File.ReadAllBytes(Path.Combine(run, "model.safetensors"));
                File.WriteAllBytes(Path.Combine(run, "model.safetensors"), bytes[..100]);
                break;
            case "model of another run":
                var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "metrics.json")))!;
                metrics["config"]!["c1"] = 16;
                File.WriteAllText(Path.Combine(run, "metrics.json"), metrics.ToJsonString());
                break;
            case "corrupt metrics":
                File.WriteAllText(Path.Combine(run, "metrics.json"), "{\"config\": ");
                break;
            case "no torch":
                // A torch package that cannot be imported, first on the path: as on a machine without PyTorch.
                Directory.CreateDirectory(dir["fake/torch"]);
                File.WriteAllText(dir["fake/torch/__init__.py"], "raise ModuleNotFoundError(\"No module named 'torch'\", name=\"torch\")\n");
                environment.Add(("PYTHONPATH", dir["fake"]));
                break;
        }
        foreach (var script in new[] { "reproduce.py", "evaluate.py" })
        {
            var (code, output) = Python(script, Arguments(script, run), environment.ToArray());
            AssertOneLine(code, 1, output, expected);
        }
        Assert.False(Directory.Exists(fixture["pytorch-out"]), "a refused run wrote outputs");
    }
}
