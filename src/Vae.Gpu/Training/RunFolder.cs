using Vae.Gpu.Devices;

namespace Vae.Gpu.Training;

/// <summary>A run folder as the commands that write one see it (its saves are <see cref="RunJournal"/>'s, its writer <see cref="RunLock"/>'s).</summary>
public static class RunFolder
{
    /// <summary>Creates the folder and proves a file can be written there, before any work starts.</summary>
    public static void EnsureWritable(string dir)
    {
        if (string.IsNullOrWhiteSpace(dir)) throw new VaeException("«OutDir» is empty; give the folder to write the run to");
        try
        {
            Directory.CreateDirectory(dir);
            string probe = Path.Combine(dir, $".write-test-{Environment.ProcessId}");
            try { File.WriteAllText(probe, ""); }
            finally { File.Delete(probe); }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VaeException($"cannot write to output directory {dir} ({e.Message.TrimEnd('.')}); choose another «OutDir»");
        }
    }

    /// <summary>Removes a folder this command created when it holds nothing but the lock file (a run refused before its first save).</summary>
    public static void RemoveIfUnused(string dir)
    {
        try
        {
            if (!Directory.Exists(dir)) return;
            var entries = Directory.GetFileSystemEntries(dir);
            if (entries.Any(e => Path.GetFileName(e) != RunLock.FileName)) return;
            foreach (var e in entries) File.Delete(e);
            Directory.Delete(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
