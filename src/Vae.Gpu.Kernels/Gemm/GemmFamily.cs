using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Kernels;

/// <summary>The versions of the GEMM; each member is named after its kernel method in <see cref="GemmKernels"/>.</summary>
public enum GemmVersion { RegisterTiled = 1, SharedTiled = 2, Rows = 3, LaneTiled = 4, LaneDot = 5, LaneWide = 6 }

/// <summary>One matrix product as a linear layer asks for it: C = epilogue(A B) with the strides of <see cref="Shape"/>.</summary>
public readonly record struct GemmCall(GemmShape Shape, EpilogueFlags Flags)
{
    public int ALength => (Shape.M - 1) * Shape.StrideAm + (Shape.K - 1) * Shape.StrideAk + 1;
    public int BLength => (Shape.K - 1) * Shape.StrideBk + (Shape.N - 1) * Shape.StrideBn + 1;

    // The step runs some shapes twice with different strides (a transposed operand).
    public override string ToString() =>
        $"{Shape} strides {Shape.StrideAm},{Shape.StrideAk},{Shape.StrideBk},{Shape.StrideBn}{EpilogueNames.Suffix(Flags)}";
}

/// <summary>The GEMM family: its versions, the rule that says where each cannot run, and the launcher.</summary>
public static class GemmFamily
{
    public const string Name = "gemm";
    public const GemmVersion Fallback = GemmVersion.RegisterTiled;

    public static string Describe(GemmVersion v) => v switch
    {
        GemmVersion.RegisterTiled => "register-tiled 4x4",
        GemmVersion.SharedTiled => "shared-memory 16x16 tiles",
        GemmVersion.Rows => "rows: 8x32 per work-item, SIMD over columns",
        GemmVersion.LaneTiled => "lane tile: 8x8 per work-item in vector registers, SIMD over columns",
        GemmVersion.LaneDot => "lane dot: 4x2 per work-item, SIMD over K (A's and B's K contiguous)",
        GemmVersion.LaneWide => "wide lane tile: 8x16 per work-item (16 vector registers of accumulators: AVX-512), SIMD over columns",
        _ => throw new ArgumentOutOfRangeException(nameof(v)),
    };

    /// <summary>The version shaped for CPUs (a private accumulator array per work-item), which GPUs never run.</summary>
    public static bool CpuShaped(GemmVersion v) => v is GemmVersion.Rows or GemmVersion.LaneTiled or GemmVersion.LaneDot or GemmVersion.LaneWide;

    /// <summary>Why version <paramref name="v"/> cannot run at shape <paramref name="s"/>; null when it can.</summary>
    public static string? WhyNot(GemmVersion v, GemmShape s, DeviceLimits limits) => v switch
    {
        GemmVersion.SharedTiled when limits.MaxGroupSize < GemmKernels.SharedTile * GemmKernels.SharedTile =>
            $"needs {GemmKernels.SharedTile * GemmKernels.SharedTile}-thread groups; this accelerator allows {limits.MaxGroupSize}",
        _ when limits.IsGpu && CpuShaped(v) => DeviceLimits.CpuShapedReason,
        GemmVersion.LaneDot when s.StrideAk != 1 || s.StrideBk != 1 => "needs A's and B's K contiguous (stride 1)",
        _ => null,
    };

    /// <summary>
    /// The untuned choice at shape s when a profile prefers <paramref name="preferred"/>. Version 4 (lane tiles):
    /// itself where B's columns are contiguous, version 5 (SIMD over K) where they are strided but A's and B's
    /// K is contiguous and long enough to fill its lanes, itself (strided path) elsewhere. Version 6 (16-column
    /// lane tiles): as version 4, but version 4 itself where C has fewer than 64 columns (one or two wide tiles
    /// leave too few work-items, and the lab measured it slower there). Version 3: only
    /// with enough rows to tile and either a short K or contiguous columns, version 1 elsewhere. Measured on
    /// PoCL (docs/performance.md); a tuned choice replaces this rule.
    /// </summary>
    public static GemmVersion Default(GemmVersion preferred, GemmShape s) => preferred switch
    {
        GemmVersion.LaneTiled or GemmVersion.LaneWide when s.StrideBn != 1 && s.StrideAk == 1 && s.StrideBk == 1 && s.K >= 8 * GemmKernels.Lanes => GemmVersion.LaneDot,
        GemmVersion.LaneWide when s.N < 4 * GemmKernels.WideLanes => GemmVersion.LaneTiled,
        GemmVersion.Rows when !(s.M >= 64 && (s.K <= 512 || s.StrideBn == 1)) => GemmVersion.RegisterTiled,
        _ => preferred,
    };

    static int BaseThreads(GemmVersion v, GemmShape s) => v switch
    {
        GemmVersion.RegisterTiled => GemmKernels.RegisterTiledThreads(s, 1),
        GemmVersion.Rows => GemmKernels.RowsThreads(s, 1),
        GemmVersion.LaneTiled => GemmKernels.LaneTiledThreads(s, 1),
        GemmVersion.LaneDot => GemmKernels.LaneDotThreads(s, 1),
        GemmVersion.LaneWide => GemmKernels.LaneWideThreads(s, 1),
        _ => s.M * s.N,
    };

    /// <summary>Runs the call with version <paramref name="v"/>: K split into slices that fill the accelerator,
    /// then (with more than one) one fixed-order sum of the slices that applies the epilogue.</summary>
    public static void Launch(KernelRunner r, GemmVersion v, GemmCall c, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float>? bias, ArrayView<float>? mask, ArrayView<float> output)
    {
        var s = c.Shape;
        int splits = r.Slices(BaseThreads(v, s), s.K, 64);
        var target = splits == 1 ? output : r.Scratch(ScratchSlot.Partials, (long)splits * s.M * s.N);
        ArrayView<float> bv = bias ?? r.None, mv = mask ?? r.None;
        int flags = (int)c.Flags;
        var t = r.Begin();
        switch (v)
        {
            case GemmVersion.SharedTiled:
                r.Grouped<GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(GemmKernels.SharedTiled)(
                    GemmKernels.SharedTiledConfig(s, splits), s, a, b, splits, bv, mv, flags, target);
                break;
            case GemmVersion.LaneTiled:
            case GemmVersion.LaneDot:
            {
                bool dot = v == GemmVersion.LaneDot;
                int n = r.Threads(dot ? GemmKernels.LaneDotThreads(s, splits) : GemmKernels.LaneTiledThreads(s, splits));
                var kernel = dot
                    ? r.Stream<int, GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(GemmKernels.LaneDot)
                    : r.Stream<int, GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(GemmKernels.LaneTiled);
                kernel(n, n, s, a, b, splits, bv, mv, flags, target);
                break;
            }
            case GemmVersion.LaneWide:
            {
                int n = r.Threads(GemmKernels.LaneWideThreads(s, splits));
                r.Stream<int, GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(GemmKernels.LaneWide)(
                    n, n, s, a, b, splits, bv, mv, flags, target);
                break;
            }
            case GemmVersion.RegisterTiled:
            case GemmVersion.Rows:
            {
                bool rows = v == GemmVersion.Rows;
                int n = r.Threads(rows ? GemmKernels.RowsThreads(s, splits) : GemmKernels.RegisterTiledThreads(s, splits));
                var kernel = rows
                    ? r.Stream<int, GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(GemmKernels.Rows)
                    : r.Stream<int, GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(GemmKernels.RegisterTiled);
                kernel(n, n, s, a, b, splits, bv, mv, flags, target);
                break;
            }
            default: throw new ArgumentOutOfRangeException(nameof(v));
        }
        r.End(t, new KernelLaunch(Name, v.ToString(), (int)v, c, KernelCost.Gemm(s, splits), 0));
        if (splits > 1) r.SumPartials(target, splits, s.M * s.N, s.N, bias, mask, c.Flags, output);
    }
}
