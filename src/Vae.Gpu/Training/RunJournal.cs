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

    /// <summary>
    /// Fault injection for tests: with VAE_GPU_TEST_HOLD_AT naming <paramref name="step"/> ("before lock"), the
    /// process says "holding at STEP" on stderr and waits for a line on stdin, so a test can let another
    /// writer run in between.
    /// </summary>
    public static void HoldPoint(string step)
    {
        if (Environment.GetEnvironmentVariable(EnvironmentSwitches.TestHoldAt) != step) return;
        Console.Error.WriteLine($"holding at {step}");
        Console.Error.Flush();
        Console.In.ReadLine();
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
        try { AtomicFile.WriteAllText(Path.Combine(dir, CommitFile), string.Join("\n", names)); }
        catch
        {
            // Not committed (a full disk): the previous save stays, and the staged copies go now, not at the next writer.
            Directory.Delete(staging, recursive: true);
            throw;
        }
        CrashPoint("committed");
        Finish(dir);
    }

    /// <summary>
    /// Finishes a committed save or discards an uncommitted one, and removes the temporary files of writers
    /// that died. The caller holds the folder's <see cref="RunLock"/>, so no other writer is at work in it.
    /// </summary>
    public static void Recover(string dir)
    {
        // The journal's own names with the wrong kind of entry would fail the next save, after the work: refuse now.
        string staging = Path.Combine(dir, StagingFolder), commit = Path.Combine(dir, CommitFile);
        if (File.Exists(staging))
            throw new VaeException($"{staging} is a file where the save journal keeps a folder; delete it (it holds no saved work) and run again");
        if (Directory.Exists(commit))
            throw new VaeException($"{commit} is a folder where the save journal keeps a file; delete it (it holds no saved work) and run again");
        if (File.Exists(Path.Combine(dir, CommitFile))) Finish(dir);
        else if (Directory.Exists(Path.Combine(dir, StagingFolder))) Directory.Delete(Path.Combine(dir, StagingFolder), recursive: true);
        if (!Directory.Exists(dir)) return;
        foreach (var temp in Directory.GetFiles(dir, ".*.tmp").Concat(Directory.GetFiles(dir, ".write-test-*")))
            File.Delete(temp);
    }

    /// <summary>The files a commit lists: plain names inside the folder; anything else means the journal is corrupt.</summary>
    static List<string> CommittedNames(string dir)
    {
        string commit = Path.Combine(dir, CommitFile);
        var names = File.ReadAllLines(commit).Where(n => n.Length > 0).ToList();
        var bad = names.FirstOrDefault(n => n != Path.GetFileName(n) || n.StartsWith('.') || n.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0);
        if (bad is not null)
            throw new VaeException($"corrupt save journal {commit}: it names '{bad}', which is not a file of the run folder; delete {commit} and {Path.Combine(dir, StagingFolder)} (the last finished save stays)");
        return names;
    }

    /// <summary>
    /// Reads one committed save without writing or locking (the folder may be read-only, or being written):
    /// <paramref name="read"/> gets the path to read each file from, the staged copy where a committed save is
    /// not yet moved into place. A read that overlaps a writer's moves, or finds files of two saves
    /// (<see cref="MixedSaveException"/>), is tried again.
    /// </summary>
    public static T ReadCommitted<T>(string dir, Func<Func<string, string>, T> read)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                var pending = File.Exists(Path.Combine(dir, CommitFile)) ? CommittedNames(dir) : new List<string>();
                string PathOf(string name)
                {
                    string staged = Path.Combine(dir, StagingFolder, name);
                    return pending.Contains(name) && File.Exists(staged) ? staged : Path.Combine(dir, name);
                }
                return read(PathOf);
            }
            catch (Exception e) when (attempt < 8 && (e is MixedSaveException || (e is IOException && HasPendingCommit(dir))))
            {
                Thread.Sleep(50 * attempt);
            }
        }
    }

    /// <summary>True when the folder holds a committed save that <see cref="Recover"/> has not finished yet.</summary>
    public static bool HasPendingCommit(string dir) => File.Exists(Path.Combine(dir, CommitFile));

    static void Finish(string dir)
    {
        string staging = Path.Combine(dir, StagingFolder), commit = Path.Combine(dir, CommitFile);
        foreach (var name in CommittedNames(dir))
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

/// <summary>Files of two different saves were read together (a writer saved in between); the read is retried.</summary>
public sealed class MixedSaveException(string message) : VaeException(message);
