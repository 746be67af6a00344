using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Kernels;

/// <summary>The versions of the GEMM; each member is named after its kernel method in <see cref="GemmKernels"/>.</summary>
public enum GemmVersion { RegisterTiled = 1, SharedTiled = 2, Rows = 3, LaneTiled = 4, LaneDot = 5, LaneWide = 6, WideTiled = 7, WideDot = 8, TallTiled = 9 }

/// <summary>One matrix product as a linear layer asks for it: C = epilogue(A B) with the strides of <see cref="Shape"/>.</summary>
public readonly record struct GemmCall(GemmShape Shape, EpilogueFlags Flags)
{
    public int ALength => (Shape.M - 1) * Shape.StrideAm + (Shape.K - 1) * Shape.StrideAk + 1;
    public int BLength => (Shape.K - 1) * Shape.StrideBk + (Shape.N - 1) * Shape.StrideBn + 1;

    // The step runs some shapes twice with different strides (a transposed operand).
    public override string ToString() =>
        $"{Shape} strides {Shape.StrideAm},{Shape.StrideAk},{Shape.StrideBk},{Shape.StrideBn}{EpilogueNames.Suffix(Flags)}";
}

/// <summary>The arguments of every GEMM version: C (or its split partials) = epilogue(A B) with K cut into <see cref="Splits"/>;
/// with <see cref="SumRows"/> 1, <see cref="RowSums"/> gets each row's sum of A over K (only version 9 writes it, in one slice).</summary>
public struct GemmArgs
{
    public GemmShape Shape;
    public int Splits, Flags, SumRows;
    public ArrayView<float> A, B, Bias, Mask, C, RowSums;
}

/// <summary>The GEMM family: its versions, one row each, the untuned default by shape, and the launcher.</summary>
public static class GemmFamily
{
    public const string Name = "gemm";
    public const GemmVersion Fallback = GemmVersion.RegisterTiled;

    const VersionTraits Cpu = VersionTraits.CpuShaped;

    static VersionRow<GemmVersion, GemmShape, GemmArgs> Stream(GemmVersion v, Action<Index1D, int, GemmArgs> kernel, Func<GemmShape, int, int> threads,
        string description, VersionTraits traits = VersionTraits.None, Func<GemmShape, DeviceLimits, string?>? rule = null) =>
        VersionRow<GemmVersion, GemmShape, GemmArgs>.Stream(Name, v, kernel, a => threads(a.Shape, a.Splits), description, traits, rule);

    /// <summary>Every version, one row each: kernel, launch sizing (threads for a shape and split count), description, traits and rule.</summary>
    public static readonly VersionTable<GemmVersion, GemmShape, GemmArgs> Versions = new(Name, new[]
    {
        Stream(GemmVersion.RegisterTiled, GemmKernels.RegisterTiled, GemmKernels.RegisterTiledThreads, "register-tiled 4x4"),
        // Split sizing counts one work-item per element of C, as a group of the 16x16 tiles covers it.
        VersionRow<GemmVersion, GemmShape, GemmArgs>.Grouped(Name, GemmVersion.SharedTiled, GemmKernels.SharedTiled, a => GemmKernels.SharedTiledConfig(a.Shape, a.Splits),
            a => a.Shape.M * a.Shape.N, "shared-memory 16x16 tiles", rule: (_, limits) => limits.MaxGroupSize < GemmKernels.SharedTile * GemmKernels.SharedTile
                ? $"needs {GemmKernels.SharedTile * GemmKernels.SharedTile}-thread groups; this accelerator allows {limits.MaxGroupSize}" : null),
        Stream(GemmVersion.Rows, GemmKernels.Rows, GemmKernels.RowsThreads, "rows: 8x32 per work-item, SIMD over columns", Cpu),
        Stream(GemmVersion.LaneTiled, GemmKernels.LaneTiled, GemmKernels.LaneTiledThreads, "lane tile: 8x8 per work-item in vector registers, SIMD over columns", Cpu),
        Stream(GemmVersion.LaneDot, GemmKernels.LaneDot, GemmKernels.LaneDotThreads, "lane dot: 4x2 per work-item, SIMD over K (A's and B's K contiguous)", Cpu,
            KContiguous),
        Stream(GemmVersion.LaneWide, GemmKernels.LaneWide, GemmKernels.LaneWideThreads,
            "wide lane tile: 8x16 per work-item (16 vector registers of accumulators: AVX-512), SIMD over columns", Cpu),
        Stream(GemmVersion.WideTiled, GemmKernels.WideTiled, GemmKernels.WideTiledThreads,
            "16-lane wide tile: 8x32 per work-item (16 512-bit registers of accumulators), SIMD over columns", Cpu),
        Stream(GemmVersion.WideDot, GemmKernels.WideDot, GemmKernels.WideDotThreads,
            "16-lane dot: 4x4 per work-item, SIMD over K (A's and B's K contiguous; 16 512-bit registers of accumulators)", Cpu, KContiguous),
        Stream(GemmVersion.TallTiled, GemmKernels.TallTiled, GemmKernels.TallTiledThreads,
            "16-lane tall tile: 16 rows (SIMD down A's contiguous rows) x 16 columns per work-item, for a C of few columns", Cpu, RowsContiguous),
    });

    static string? RowsContiguous(GemmShape s, DeviceLimits _) => s.StrideAm != 1 ? "needs A's rows contiguous (stride 1 along M)" : null;

    static string? KContiguous(GemmShape s, DeviceLimits _) => s.StrideAk != 1 || s.StrideBk != 1 ? "needs A's and B's K contiguous (stride 1)" : null;

    public static string Describe(GemmVersion v) => Versions[v].Description;

    /// <summary>The version shaped for CPUs (a private accumulator array per work-item), which GPUs never run.</summary>
    public static bool CpuShaped(GemmVersion v) => Versions[v].CpuShaped;

    /// <summary>Why version <paramref name="v"/> cannot run at shape <paramref name="s"/>; null when it can.</summary>
    public static string? WhyNot(GemmVersion v, GemmShape s, DeviceLimits limits) => Versions[v].WhyNot(s, limits);

    /// <summary>
    /// The untuned choice at shape s when a profile prefers <paramref name="preferred"/>. Version 4 (lane tiles):
    /// itself where B's columns are contiguous, version 5 (SIMD over K) where they are strided but A's and B's
    /// K is contiguous and long enough to fill its lanes, itself (strided path) elsewhere; version 7 hands those to
    /// version 8 (version 5 at 16 lanes) where K fills its lanes 8 times over, and to version 9 (SIMD down A's rows)
    /// where A's rows are contiguous and C has at most 16 columns and 128 rows or more. Version 6 (16-column
    /// lane tiles): as version 4, but version 4 itself where C has fewer than 64 columns (one or two wide tiles
    /// leave too few work-items, and the lab measured it slower there); version 7 (32-column tiles of 16 lanes):
    /// version 4 only below 16 columns (the lab measured it twice version 4's speed at the 16-column calls of the
    /// default model, 128x16x18432 and 18432x16x128, where K splits fill the work-items). Version 3: only
    /// with enough rows to tile and either a short K or contiguous columns, version 1 elsewhere. Measured on
    /// PoCL (docs/performance.md); a tuned choice replaces this rule.
    /// </summary>
    public static GemmVersion Default(GemmVersion preferred, GemmShape s) => preferred switch
    {
        GemmVersion.WideTiled when DotShaped(s, LaneTiles.WideWidth) => GemmVersion.WideDot,
        GemmVersion.WideTiled when TallShaped(s) => GemmVersion.TallTiled,
        GemmVersion.LaneTiled or GemmVersion.LaneWide or GemmVersion.WideTiled when DotShaped(s, GemmKernels.Lanes) => GemmVersion.LaneDot,
        GemmVersion.LaneWide when s.N < 4 * GemmKernels.WideLanes => GemmVersion.LaneTiled,
        GemmVersion.WideTiled when s.N < LaneTiles.WideWidth => GemmVersion.LaneTiled,
        GemmVersion.Rows when !(s.M >= 64 && (s.K <= 512 || s.StrideBn == 1)) => GemmVersion.RegisterTiled,
        _ => preferred,
    };

    /// <summary>A's rows contiguous, C at most one tall tile wide and tall enough for 8 of them: the products that
    /// SIMD down the rows (version 9) serves.</summary>
    static bool TallShaped(GemmShape s) => s.StrideAm == 1 && s.N <= GemmKernels.TallColumns && s.M >= 8 * LaneTiles.WideWidth;

    /// <summary>B's columns strided, A's and B's K contiguous and at least 8 vectors of <paramref name="lanes"/> long:
    /// the products that SIMD over K (versions 5 and 8) serves.</summary>
    static bool DotShaped(GemmShape s, int lanes) => s.StrideBn != 1 && s.StrideAk == 1 && s.StrideBk == 1 && s.K >= 8 * lanes;

    /// <summary>Whether version <paramref name="v"/> writes A's row sums beside C (<see cref="Launch"/>'s rowSums) when
    /// <paramref name="splits"/> slices cut K: version 9, in one slice.</summary>
    public static bool SumsRows(GemmVersion v, int splits) => v == GemmVersion.TallTiled && splits == 1;

    /// <summary>Runs the call with version <paramref name="v"/>: K split into slices that fill the accelerator,
    /// then (with more than one) one fixed-order sum of the slices that applies the epilogue. With
    /// <paramref name="rowSums"/>, a version that can (<see cref="SumsRows"/>) also writes each row's sum of A over K
    /// there in the same pass (a linear layer's bias gradient beside its weight gradient); returns whether it did.</summary>
    public static bool Launch(KernelRunner r, GemmVersion v, GemmCall c, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float>? bias, ArrayView<float>? mask, ArrayView<float> output, ArrayView<float>? rowSums = null)
    {
        var row = Versions[v];
        var s = c.Shape;
        var args = new GemmArgs { Shape = s, Splits = 1, Flags = (int)c.Flags, A = a, B = b, Bias = bias ?? r.None, Mask = mask ?? r.None, RowSums = r.None };
        int splits = r.Slices((int)row.Work(args), s.K, 64);
        var target = splits == 1 ? output : r.Scratch(ScratchSlot.Partials, (long)splits * s.M * s.N);
        bool sums = rowSums is not null && SumsRows(v, splits);
        if (sums)
        {
            if (rowSums!.Value.Length != s.M) throw new ArgumentException($"the row sums of {c} have {s.M} values, not {rowSums.Value.Length}");
            args.RowSums = rowSums.Value;
            args.SumRows = 1;
        }
        args.Splits = splits;
        args.C = target;
        var t = r.Begin();
        row.Launch(r, args, row.Work(args));
        var cost = KernelCost.Gemm(s, splits);
        if (sums) cost = new KernelCost(cost.Flops + (double)s.M * s.K, cost.Bytes + 4.0 * s.M);
        r.End(t, new KernelLaunch(Name, row.Name, row.Number, c, cost, 0));
        if (splits > 1) r.SumPartials(target, splits, s.M * s.N, s.N, bias, mask, c.Flags, output);
        return sums;
    }
}
