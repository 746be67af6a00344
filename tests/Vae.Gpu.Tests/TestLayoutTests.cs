using Vae.Gpu.Tests.Interop;

namespace Vae.Gpu.Tests;

/// <summary>The tests mirror src: one type per file, named as the file, so a class is found where its name says.</summary>
public class TestLayoutTests
{
    [Fact]
    public void EachTestFileHoldsOneTypeNamedAsTheFile()
    {
        string root = Path.Combine(Repo.Root, "tests", "Vae.Gpu.Tests");
        var files = Directory.GetFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
                        && Path.GetFileName(f) != "AssemblyInfo.cs")
            .ToList();
        Assert.True(files.Count >= 30, $"found only {files.Count} test files under {root}");
        var declaration = new System.Text.RegularExpressions.Regex(@"^(?:public |internal )?(?:static |sealed |abstract )*(?:partial )?(?:class|record|struct) (\w+)",
            System.Text.RegularExpressions.RegexOptions.Multiline);
        foreach (var file in files)
        {
            var types = declaration.Matches(File.ReadAllText(file)).Select(m => m.Groups[1].Value).ToList();
            Assert.True(types.Count == 1 && types[0] == Path.GetFileNameWithoutExtension(file),
                $"{Path.GetRelativePath(root, file)} declares {(types.Count == 0 ? "no type" : string.Join(", ", types))}; a file holds one type, named as the file");
        }
    }
}
