using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Model;

namespace Vae.Gpu.Tests.Kernels;

/// <summary>What a GPU run depends on that can be shown without a GPU: launch sizing from the multiprocessor
/// count, the versions a GPU may pick, the 32-bit element limit, device-event timing and thread binding.</summary>
public class GpuReadinessTests
{
    [Fact]
    public void AGpuProfileSpreadsSmallLaunchesOverEveryMultiprocessor()
    {
        // An H200: 132 multiprocessors of 2,048 resident threads.
        var p = DeviceProfile.Gpu("cuda", 132, 2048);
        Assert.InRange(p.GroupSize, 128, 256);
        Assert.Equal(4 * 132 * 2048, p.TargetThreads);
        Assert.Equal(132 * 2048, p.LossPartials);
        Assert.True(p.LossPartials > ReductionKernels.FoldAbove, "a GPU's loss partials are summed in two levels");
        // The weight-gradient launch of the default model's second convolution (32 x 16 x 3 x 3 = 4,608 outputs)
        // at batch 128: split into batch chunks, in groups of 256, it must reach every multiprocessor.
        var s = new ConvShape(128, 16, 32, 26, 26, 3);
        int outputs = s.OutChannels * s.InChannels * s.Kernel * s.Kernel;
        int wanted = (p.TargetThreads + outputs - 1) / outputs;
        int chunks = Math.Min(wanted, s.Batch);
        Assert.True(chunks * outputs / p.GroupSize >= 132, $"{chunks} chunks x {outputs} threads fill only {chunks * outputs / p.GroupSize} groups");
    }

    [Fact]
    public void AGpuNeverPicksACpuShapedVersion()
    {
        var gpu = new DeviceLimits(1024, 65535, IsGpu: true);
        var cpu = gpu with { IsGpu = false };
        var conv = new ConvShape(128, 16, 32, 28, 28, 3);
        Assert.Equal(DeviceLimits.CpuShapedReason, ConvFamily.WhyNot(ConvVersion.Rows, conv, gpu));
        Assert.Null(ConvFamily.WhyNot(ConvVersion.Rows, conv, cpu));
        Assert.Equal(DeviceLimits.CpuShapedReason, WeightGradFamily.WhyNot(WeightGradVersion.Rows, conv, gpu));
        Assert.Equal(DeviceLimits.CpuShapedReason, GemmFamily.WhyNot(GemmVersion.Rows, new GemmShape(128, 16, 512, 512, 1, 16, 1), gpu));
        Assert.Null(GemmFamily.WhyNot(GemmVersion.SharedTiled, new GemmShape(128, 16, 512, 512, 1, 16, 1), gpu));
    }

    [Fact]
    public void ARunWithATensorOf2To31ElementsIsRefusedNamingIt()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        var config = new VaeConfig(C1: 1024);
        var tooBig = MemoryEstimate.LargestTensors(config, 4096).Where(t => t.Elements > int.MaxValue).ToList();
        Assert.NotEmpty(tooBig);
        var e = Assert.Throws<VaeException>(() => MemoryEstimate.EnsureFits(device, config, 4096, 70_000));
        Assert.Contains("BatchSize 4096 and the model c1=1024", e.Message);
        Assert.Contains(tooBig[0].Name, e.Message);
        Assert.Contains("2^31", e.Message);
        Assert.All(MemoryEstimate.LargestTensors(new VaeConfig(), 128), t => Assert.InRange(t.Elements, 1, int.MaxValue));
    }

    sealed class Runner : KernelRunner, IDisposable
    {
        readonly MemoryBuffer1D<float, Stride1D.Dense> _none;
        public Runner(Accelerator a, bool events) : base(a, 0)
        {
            TimesWithDeviceEvents = events;
            _none = a.Allocate1D<float>(1);
        }
        public void Dispose() => _none.Dispose();
        public override int Threads(long work) => (int)Math.Min(work, 64);
        public override int TargetThreads => 64;
        public override int Slices(int baseThreads, int extent, int minPerSlice) => 1;
        public override ArrayView<float> Scratch(ScratchSlot slot, long length) => throw new NotSupportedException();
        public override ArrayView<float> None => _none.View;
        public override void SumPartials(ArrayView<float> partials, int slices, int length, int columns, ArrayView<float>? bias,
            ArrayView<float>? mask, EpilogueFlags flags, ArrayView<float> output) => throw new NotSupportedException();
    }

    [Theory, InlineData(true), InlineData(false)]
    public void ProfiledLaunchesAreTimedByDeviceEventsOrTheHostClock(bool events)
    {
        using var context = Context.Create(b => b.CPU(new CPUDevice(4, 4, 2)).Profiling());
        using var accelerator = context.GetCPUDevice(0).CreateAccelerator(context);
        using var runner = new Runner(accelerator, events);
        var launches = new List<KernelLaunch>();
        runner.Profiler = launches.Add;
        var shape = new GemmShape(33, 17, 29, 29, 1, 17, 1);
        using var a = accelerator.Allocate1D(Enumerable.Range(0, 33 * 29).Select(i => (float)Math.Sin(i)).ToArray());
        using var b = accelerator.Allocate1D(Enumerable.Range(0, 29 * 17).Select(i => (float)Math.Cos(i)).ToArray());
        using var c = accelerator.Allocate1D<float>(33 * 17);
        GemmFamily.Launch(runner, GemmVersion.RegisterTiled, new GemmCall(shape, EpilogueFlags.None), a.View, b.View, null, null, c.View);
        var launch = Assert.Single(launches);
        Assert.True(launch.Seconds > 0 && double.IsFinite(launch.Seconds), $"{launch.Seconds} s");
        Assert.NotEqual(0f, c.GetAsArray1D().Select(Math.Abs).Sum());
    }

    [Fact]
    public void ALaunchMakesItsAcceleratorCurrentOnTheCallingThread()
    {
        using var context = Context.Create(b => b.CPU(new CPUDevice(4, 4, 2)));
        using var first = context.GetCPUDevice(0).CreateAccelerator(context);
        using var second = context.GetCPUDevice(0).CreateAccelerator(context);
        var shape = new GemmShape(5, 3, 4, 4, 1, 3, 1);
        foreach (var (accelerator, other) in new[] { (first, second), (second, first), (first, second) })
        {
            other.Bind();  // work on the other accelerator last
            using var a = accelerator.Allocate1D<float>(20);
            using var b = accelerator.Allocate1D<float>(12);
            using var c = accelerator.Allocate1D<float>(15);
            using var runner = new Runner(accelerator, false);
            other.Bind();
            GemmFamily.Launch(runner, GemmVersion.RegisterTiled, new GemmCall(shape, EpilogueFlags.None), a.View, b.View, null, null, c.View);
            Assert.Same(accelerator, Accelerator.Current);
        }
    }
}
