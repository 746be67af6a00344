using System.IO.Compression;

namespace Vae.Gpu.Tests.Interop;

/// <summary>dotnet pack gives the two library packages and the vae-gpu .NET tool, which installs and runs.</summary>
[Trait("Category", "Slow")]
public class PackagingTests
{
    [SkippableFact]
    public void PackedToolInstallsIntoAToolPathAndRuns()
    {
        using var dir = new TempDir();
        string packages = dir["packages"], tools = dir["tools"];
        // The Release build that `dotnet test -c Release` made is packed as it is (no rebuild under a running test).
        var (code, output) = Repo.Run("dotnet", $"pack VaeGpu.sln -c Release --no-build -o \"{packages}\" -nodeReuse:false", 600);
        Skip.If(code != 0 && output.Contains("--no-build") && output.Contains("not found"), $"no Release build to pack: {output}");
        Assert.True(code == 0, output);
        foreach (var id in new[] { "Vae.Gpu", "Vae.Gpu.Kernels", "vae-gpu" })
        {
            string nupkg = Path.Combine(packages, $"{id}.0.2.0.nupkg");
            Assert.True(File.Exists(nupkg), $"{id} was not packed: {string.Join(", ", Directory.GetFiles(packages).Select(Path.GetFileName))}");
            using var zip = ZipFile.OpenRead(nupkg);
            // The packages' own short readme (docs/package-readme.md), not the repository's page.
            var readme = zip.Entries.Single(e => e.FullName == "README.md");
            Assert.Equal(File.ReadAllText(Path.Combine(Repo.Root, "docs", "package-readme.md")), new StreamReader(readme.Open()).ReadToEnd());
            var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec")).Open()).ReadToEnd();
            Assert.Contains("<description>", nuspec);
            Assert.Contains("<readme>README.md</readme>", nuspec);
        }

        (code, output) = Repo.Run("dotnet", $"tool install vae-gpu --tool-path \"{tools}\" --add-source \"{packages}\" --version 0.2.0", 600);
        Assert.True(code == 0, output);
        string exe = Path.Combine(tools, OperatingSystem.IsWindows() ? "vae-gpu.exe" : "vae-gpu");
        (code, output) = Repo.Run(exe, "devices", 120);
        Assert.True(code == 0, output);
        Assert.Contains("cpu     CPUAccelerator", output);
        (code, output) = Repo.Run(exe, "--version", 60);
        Assert.Equal(0, code);
        Assert.Equal("0.2.0", output.Trim());
    }
}
