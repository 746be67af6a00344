using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Kernels;

/// <summary>
/// Deterministic sums. Each partial covers a fixed set of elements in a fixed order and the partials are
/// added in a fixed order, so a rerun gives the same bits (ILGPU.Algorithms' reductions end in atomics).
/// </summary>
public static partial class ReductionKernels
{
    /// <summary>
    /// output[i] = epilogue(sum_{s &lt; slices} partials[s * length + i]) where the bias index is
    /// i mod <paramref name="columns"/>. Finishes split-K products and chunked gradients. <paramref name="chunked"/>
    /// 1 (CPUs): each work-item one contiguous run, and without an epilogue the run is summed slice by slice into
    /// the output, a unit-stride loop the vectorizer takes (one thread per element with a modulo and the
    /// epilogue's branches ran scalar: a 2-slice sum of a 32 x 18432 product took 2 ms). 0 (GPUs): items index,
    /// index + stride, ... Same sums in the same order either way (0 + p_0 + p_1 + ...).
    /// </summary>
    public static void SumPartials(
        Index1D index, int stride, int chunked, ArrayView<float> partials, int slices, int length, int columns,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> output)
    {
        if (chunked != 0)
        {
            int per = KernelIndex.DivUp(length, stride), start = index * per, end = KernelIndex.Min(length, start + per);
            if (start >= end) return;
            if (flags == 0)
            {
                var first = partials.SubView(start, end - start);
                var run = output.SubView(start, end - start);
                for (int i = 0; i < end - start; i++) run[i] = 0f + first[i];
                for (int s = 1; s < slices; s++)
                {
                    var slice = partials.SubView(s * length + start, end - start);
                    for (int i = 0; i < end - start; i++) run[i] += slice[i];
                }
                return;
            }
            for (int i = start; i < end; i++) StorePartialSum(i, partials, slices, length, columns, bias, mask, flags, output);
            return;
        }
        for (int i = index; i < length; i += stride) StorePartialSum(i, partials, slices, length, columns, bias, mask, flags, output);
    }

    static void StorePartialSum(int i, ArrayView<float> partials, int slices, int length, int columns,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> output)
    {
        float sum = 0;
        for (int s = 0; s < slices; s++) sum += partials[s * length + i];
        Epilogue.Store(output, i, sum, i % columns, bias, mask, flags);
    }

    /// <summary>Lanes of <see cref="FinishLoss"/>: a fixed number, so the order of the sum is the same on every accelerator.</summary>
    public const int LossLanes = 16;

    /// <summary>
    /// The batch loss: the sum of <paramref name="partials"/> (the BCE's) plus the KL term of every (mu, sigma)
    /// pair, stored at totals[slot]; the loss stays on the device and the host reads a whole run of slots when
    /// it wants to show progress. The KL is summed here rather than in partials of its own because a batch has
    /// only B x lat pairs: one launch fewer a step. One group of <see cref="LossLanes"/> threads: lane l sums
    /// items l, l + 16, ... in order, then a fixed tree (8, 4, 2, 1) in shared memory adds the lanes. Launch
    /// with <see cref="FinishLossConfig"/>; empty views leave a term out.
    /// </summary>
    [ExplicitlyGrouped]
    public static void FinishLoss(ArrayView<float> partials, ArrayView<float> mu, ArrayView<float> sigma, KlChoice kl, ArrayView<float> totals, int slot)
    {
        var laneA = SharedMemory.Allocate<float>(LossLanes);
        var laneB = SharedMemory.Allocate<float>(LossLanes);
        int lane = Group.IdxX;
        float a = 0, b = 0;
        for (int i = lane; i < partials.IntLength; i += LossLanes) a += partials[i];
        for (int i = lane; i < mu.IntLength; i += LossLanes) b += LossKernels.KlTerm(mu[i], sigma[i], kl.Kind);
        laneA[lane] = a;
        laneB[lane] = b;
        Group.Barrier();
        for (int width = LossLanes / 2; width > 0; width /= 2)
        {
            if (lane < width)
            {
                laneA[lane] += laneA[lane + width];
                laneB[lane] += laneB[lane + width];
            }
            Group.Barrier();
        }
        if (lane == 0) totals[slot] = laneA[0] + kl.Weight * laneB[0];
    }

    public static KernelConfig FinishLossConfig => new(1, LossLanes);

    /// <summary>Above this many partials <see cref="FinishLoss"/> reads <see cref="FoldedPartials"/> sums of
    /// them (<see cref="FoldPartials"/>) instead.</summary>
    public const int FoldAbove = 4096, FoldedPartials = 1024;

    /// <summary>folded[t] = sum of partials[t], partials[t + F], ... in order, F = folded's length: the first
    /// level of a two-level loss sum.</summary>
    public static void FoldPartials(Index1D index, ArrayView<float> partials, ArrayView<float> folded)
    {
        int stride = folded.IntLength;
        float sum = 0;
        for (int i = index; i < partials.IntLength; i += stride) sum += partials[i];
        folded[index] = sum;
    }
}
