using System.Diagnostics;
using System.Globalization;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;

namespace Vae.Gpu.Training;

/// <summary>
/// Saves several files of a run folder as one unit, with a redo journal: every file is first written whole
/// into DIR/.checkpoint-staging/, then DIR/.checkpoint-commit (the list of files) is written atomically (the
/// commit point), then the staged files are renamed into place and the journal removed. A crash before the
/// commit point leaves the previous save untouched (the staging folder is discarded); a crash after it is
/// finished by <see cref="Recover"/>, which every writer runs first. Each file in place is always whole.
/// </summary>
public static class RunJournal
{
    public const string StagingFolder = ".checkpoint-staging", CommitFile = ".checkpoint-commit";

    /// <summary>
    /// Fault injection for tests: VAE_GPU_TEST_CRASH_AT names a step of the save ("staged model.safetensors",
    /// "committed", "moved metrics.json", ...) at which the process kills itself, as kill -9 would.
    /// </summary>
    public const string CrashVariable = EnvironmentSwitches.TestCrashAt;

    static void CrashPoint(string step)
    {
        if (Environment.GetEnvironmentVariable(CrashVariable) == step)
            Process.GetCurrentProcess().Kill();
    }

    /// <summary>Commits the named files, each written by its action into the staging folder.</summary>
    public static void Commit(string dir, IReadOnlyList<(string Name, Action<string> Write)> files) =>
        CommitFolder(dir, staging =>
        {
            foreach (var (name, write) in files)
            {
                write(Path.Combine(staging, name));
                CrashPoint($"staged {name}");
            }
        });

    /// <summary>
    /// Commits a whole set of files that <paramref name="writeInto"/> writes into an empty staging folder: a
    /// failure or crash while writing leaves the folder's earlier files as they were.
    /// </summary>
    public static void CommitFolder(string dir, Action<string> writeInto)
    {
        Recover(dir);
        string staging = Path.Combine(dir, StagingFolder);
        Directory.CreateDirectory(staging);
        try { writeInto(staging); }
        catch
        {
            Directory.Delete(staging, recursive: true);
            throw;
        }
        var names = Directory.GetFiles(staging).Select(Path.GetFileName).OfType<string>().Where(n => !n.StartsWith('.')).ToList();
        AtomicFile.WriteAllText(Path.Combine(dir, CommitFile), string.Join("\n", names));
        CrashPoint("committed");
        Finish(dir);
    }

    /// <summary>Finishes a committed save or discards an uncommitted one; removes temporary files of dead writers.</summary>
    public static void Recover(string dir)
    {
        if (File.Exists(Path.Combine(dir, CommitFile))) Finish(dir);
        else if (Directory.Exists(Path.Combine(dir, StagingFolder))) Directory.Delete(Path.Combine(dir, StagingFolder), recursive: true);
        foreach (var temp in Directory.Exists(dir) ? Directory.GetFiles(dir, ".*.tmp") : Array.Empty<string>())
            if (AtomicFile.WriterOf(temp) is int pid && !RunLock.IsAlive(pid)) File.Delete(temp);
    }

    /// <summary>True when the folder holds a committed save that <see cref="Recover"/> has not finished yet.</summary>
    public static bool HasPendingCommit(string dir) => File.Exists(Path.Combine(dir, CommitFile));

    static void Finish(string dir)
    {
        string staging = Path.Combine(dir, StagingFolder), commit = Path.Combine(dir, CommitFile);
        foreach (var name in File.ReadAllLines(commit).Where(n => n.Length > 0))
        {
            string staged = Path.Combine(staging, name);
            if (!File.Exists(staged)) continue; // moved before an interruption
            File.Move(staged, Path.Combine(dir, name), overwrite: true);
            CrashPoint($"moved {name}");
        }
        File.Delete(commit);
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
    }
}
