using Vae.Gpu.Devices;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Tests.Devices;

/// <summary>Host copies with the garbage collector compacting the heap under them: the arrays must be pinned for the whole copy.</summary>
public class HostCopyTests
{
    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void CopiesSurviveACompactingCollectorRunningBesideThem(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        using var stop = new CancellationTokenSource();
        var collector = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                _ = new byte[64 * 1024]; // garbage to move things around
                GC.Collect(0, GCCollectionMode.Forced, blocking: true, compacting: true);
                Thread.Sleep(1);
            }
        });
        try
        {
            var rng = new Random(5);
            for (int round = 0; round < 100; round++)
            {
                int n = 1 + rng.Next(50_000);
                var data = new float[n];
                for (int i = 0; i < n; i++) data[i] = (float)rng.NextDouble() + 1f; // never 0: an unwritten copy shows
                using var t = Tensor.FromArray(device, data, n);
                var back = t.ToArray();
                Assert.True(data.AsSpan().SequenceEqual(back), $"round {round}: {back.Count(v => v == 0)} of {n} values came back 0");
            }
        }
        finally
        {
            stop.Cancel();
            collector.Wait();
        }
    }
}
