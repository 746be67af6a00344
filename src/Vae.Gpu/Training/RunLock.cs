using System.Diagnostics;
using System.Globalization;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;

namespace Vae.Gpu.Training;

/// <summary>
/// DIR/.vae-gpu.lock while a command writes a run folder: it holds the writer's PID. A second writer fails at
/// once naming that PID; a lock whose process is gone (killed, machine restarted) is taken over.
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".vae-gpu.lock";
    readonly string _path;

    /// <summary>The locked folder, as a full path.</summary>
    public string Folder { get; }

    RunLock(string path)
    {
        _path = path;
        Folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
    }

    public static RunLock Acquire(string dir)
    {
        string path = Path.Combine(dir, FileName);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                using (var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
                using (var w = new StreamWriter(f)) w.Write(Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
                return new RunLock(path);
            }
            catch (IOException) when (File.Exists(path) && attempt < 3)
            {
                int? holder = ReadPid(path);
                if (holder is int pid && pid != Environment.ProcessId && IsAlive(pid))
                    throw new VaeException($"{dir} is being written by another vae-gpu (PID {pid}); wait for it to finish, stop it, or choose another --out");
                // Stale (its process is gone) or half-written by a writer that died: take it over.
                try { File.Delete(path); } catch (IOException) { }
            }
        }
    }

    static int? ReadPid(string path)
    {
        try { return int.TryParse(File.ReadAllText(path).Trim(), out int pid) ? pid : null; }
        catch (IOException) { return null; }
    }

    public static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    public void Dispose()
    {
        if (ReadPid(_path) == Environment.ProcessId)
            try { File.Delete(_path); } catch (IOException) { }
    }
}
