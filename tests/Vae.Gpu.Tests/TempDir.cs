using System.Security.Cryptography;

namespace Vae.Gpu.Tests;

/// <summary>Temporary folders and the helpers that prove a folder was left exactly as it was.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("vae-gpu-test-").FullName;
    public string this[string name] => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }

    /// <summary>Name -> SHA-256 of every file, to compare before and after a failing command. The lock file
    /// is left out: every writer leaves it behind, empty (see RunLock), and it holds no saved work.</summary>
    public static Dictionary<string, string> Snapshot(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
            .Where(f => System.IO.Path.GetFileName(f) != Vae.Gpu.Training.RunLock.FileName)
            .ToDictionary(f => System.IO.Path.GetRelativePath(dir, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));
}
