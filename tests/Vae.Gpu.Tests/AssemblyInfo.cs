// One accelerator stream and its scratch buffers are shared by every test on that device.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Vae.Gpu.Tests
{
    using System.Runtime.CompilerServices;

    static class TestEnvironment
    {
        /// <summary>The tests' own tuning cache (in a folder they create and delete), so no test reads or writes the
        /// user's: <c>vae-gpu</c> processes the tests start inherit it.</summary>
        [ModuleInitializer]
        internal static void IsolateTheTuningCache()
        {
            var cache = Directory.CreateTempSubdirectory("vae-gpu-test-cache-").FullName;
            Environment.SetEnvironmentVariable(EnvironmentSwitches.CacheHome, cache);
            AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(cache, recursive: true); } catch (IOException) { } };
        }
    }
}
