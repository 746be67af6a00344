using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Vae.Gpu.Tests.Interop;

/// <summary>
/// The library guide's example (docs/library.md) is examples/library/Program.cs, verbatim, and it builds and trains as a new user's
/// console app would: against freshly packed Vae.Gpu and Vae.Gpu.Kernels packages, with only its own using lines.
/// </summary>
[Trait("Category", "Slow")]
public class LibraryExampleTests
{
    static (int Code, string Output) Dotnet(string workingDirectory, int timeoutSeconds, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        return Repo.Run(psi, timeoutSeconds);
    }

    [Fact]
    public void TheLibraryGuideShowsTheExampleProgramVerbatim()
    {
        string program = File.ReadAllText(Path.Combine(Repo.Root, "examples", "library", "Program.cs")).Replace("\r", "").Trim();
        string guide = File.ReadAllText(Path.Combine(Repo.Root, "docs", "library.md")).Replace("\r", "");
        Assert.Contains("```csharp\n" + program + "\n```", guide);
    }

    [SkippableFact]
    public void TheExampleBuildsAgainstThePackedPackagesAndTrains()
    {
        SyntheticData.SkipWithoutRealData();
        using var tmp = new TempDir();
        // A version of its own, so no package cached from an earlier pack can stand in for this one.
        string version = $"0.2.0-test.{DateTime.UtcNow:yyyyMMddHHmmssfff}", packages = tmp["nupkgs"];
        foreach (var project in new[] { "Vae.Gpu.Kernels", "Vae.Gpu" })
        {
            var (packCode, packOut) = Dotnet(Repo.Root, 300, "pack", Path.Combine(Repo.Root, "src", project, $"{project}.csproj"),
                "-c", "Release", "--no-build", "-o", packages, $"-p:PackageVersion={version}", "-nologo");
            Assert.True(packCode == 0, packOut);
        }

        string app = tmp["app"];
        Directory.CreateDirectory(app);
        foreach (var file in new[] { "Program.cs", "LibraryExample.csproj" })
            File.Copy(Path.Combine(Repo.Root, "examples", "library", file), Path.Combine(app, file));
        File.WriteAllText(Path.Combine(app, "nuget.config"),
            $"""<?xml version="1.0" encoding="utf-8"?><configuration><packageSources><add key="packed" value="{packages}" /></packageSources></configuration>""");
        // Everything else comes from the packages this machine already has; the packed ones land in the temp folder.
        var (localsCode, locals) = Dotnet(app, 60, "nuget", "locals", "global-packages", "--list");
        Assert.True(localsCode == 0, locals);
        string global = locals.Split(':', 2)[1].Trim();
        var (buildCode, buildOut) = Dotnet(app, 400, "build", "-c", "Release", "-nologo", $"-p:VaeGpuVersion={version}",
            $"-p:RestorePackagesPath={tmp["packages"]}", $"-p:RestoreFallbackFolders={global}");
        Assert.True(buildCode == 0, buildOut);

        var (runCode, runOut) = Dotnet(app, 300, Path.Combine(app, "bin", "Release", "net10.0", "LibraryExample.dll"), SyntheticData.RealDataDir!);
        Assert.True(runCode == 0, runOut);
        var losses = Regex.Matches(runOut, @"loss (-?[0-9.]+) per image").Select(m => double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        // Five steps on five different batches: each loss near an untrained model's (about 784 ln 2 = 543 per image).
        Assert.True(losses.Count == 5 && losses.All(l => l is > 100 and < 1000), runOut);
        Assert.Matches(@"step 0: RLoss [0-9.]+, KlLoss [0-9.]+", runOut);
    }
}
