using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Vae.Gpu.Devices;

namespace Vae.Gpu.Training;

/// <summary>
/// DIR/.vae-gpu.lock while a command writes a run folder: the file is held open with an exclusive OS lock
/// (<see cref="FileShare.None"/>, which .NET takes as <c>flock</c> on Linux) for the writer's whole life. The
/// operating system releases it when that process ends however it ends, so a lock is never stale, and it
/// holds across PID namespaces (<c>scripts/with-pocl</c>) and PID reuse. The writer's PID, host and start time
/// are written into the file as information for the error a second writer gets; they decide nothing. The file
/// stays when the lock is released: deleting it would let a writer that opened it just before lock an
/// unlinked file while a third creates a new one.
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".vae-gpu.lock";
    readonly FileStream _held;

    /// <summary>The locked folder, as a full path.</summary>
    public string Folder { get; }

    RunLock(string path, FileStream held)
    {
        _held = held;
        Folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
    }

    /// <summary>Locks <paramref name="dir"/> (which must exist) or throws a <see cref="VaeException"/> naming the holder.</summary>
    public static RunLock Acquire(string dir)
    {
        string path = Path.Combine(dir, FileName);
        FileStream held;
        try
        {
            held = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException) when (File.Exists(path))
        {
            throw new VaeException(
                $"{dir} is being written by another vae-gpu ({Holder(path)}); wait for it to finish or stop it, or choose another «OutDir» " +
                "(the lock is the operating system's and ends with that process, so there is nothing to clear by hand)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VaeException($"cannot lock {dir} for writing ({e.Message.TrimEnd('.')}); choose another «OutDir»");
        }
        try
        {
            var info = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $"PID {Environment.ProcessId} on {Environment.MachineName} since {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC\n"));
            held.SetLength(0);
            held.Write(info);
            held.Flush();
        }
        catch (IOException) { } // the information is optional; the lock is held
        return new RunLock(path, held);
    }

    /// <summary>What the holder wrote, read without taking the lock (a locking read would be refused).</summary>
    static string Holder(string path)
    {
        string text = OperatingSystem.IsWindows() ? "" : UnlockedRead(path).Trim();
        return text.StartsWith("PID ", StringComparison.Ordinal) && text.Length < 300 && !text.Contains('\n') ? text : "its PID unknown";
    }

    [DllImport("libc", SetLastError = true)] static extern int open(string path, int flags);
    [DllImport("libc", SetLastError = true)] static extern nint read(int fd, byte[] buffer, nint count);
    [DllImport("libc")] static extern int close(int fd);

    static string UnlockedRead(string path)
    {
        try
        {
            int fd = open(path, 0);
            if (fd < 0) return "";
            try
            {
                var buffer = new byte[512];
                long n = read(fd, buffer, buffer.Length);
                return n > 0 ? Encoding.UTF8.GetString(buffer, 0, (int)n) : "";
            }
            finally { close(fd); }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return ""; }
    }

    public void Dispose()
    {
        try { _held.SetLength(0); } catch (IOException) { }
        _held.Dispose();
    }
}
