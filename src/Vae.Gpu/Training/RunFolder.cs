using Vae.Gpu.Devices;

namespace Vae.Gpu.Training;

/// <summary>A run folder as the commands that write one see it (its saves are <see cref="RunJournal"/>'s, its writer <see cref="RunLock"/>'s).</summary>
public static class RunFolder
{
    /// <summary>Creates the folder and proves a file can be written there, before any work starts.</summary>
    public static void EnsureWritable(string dir)
    {
        try
        {
            Directory.CreateDirectory(dir);
            string probe = Path.Combine(dir, $".write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VaeException($"cannot write to output directory {dir} ({e.Message.TrimEnd('.')}); choose another --out");
        }
    }
}
