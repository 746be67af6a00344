using ILGPU;

namespace Vae.Gpu.Kernels;

/// <summary>
/// Deterministic sums. Each partial covers a fixed set of elements in a fixed order and the partials are
/// added in a fixed order, so a rerun gives the same bits (ILGPU.Algorithms' reductions end in atomics).
/// </summary>
public static class ReductionKernels
{
    /// <summary>
    /// output[i] = epilogue(sum_{s &lt; slices} partials[s * length + i]) where the bias index is
    /// i mod <paramref name="columns"/>. Finishes split-K products and chunked gradients.
    /// </summary>
    public static void SumPartials(
        Index1D index, int stride, ArrayView<float> partials, int slices, int length, int columns,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> output)
    {
        for (int i = index; i < length; i += stride)
        {
            float sum = 0;
            for (int s = 0; s < slices; s++) sum += partials[s * length + i];
            Epilogue.Store(output, i, sum, i % columns, bias, mask, flags);
        }
    }

    /// <summary>
    /// Adds the partials of one or two losses in order and stores the total at totals[slot]: the batch loss
    /// stays on the device and the host reads a whole run of slots when it wants to show progress.
    /// </summary>
    public static void FinishLoss(
        Index1D index, ArrayView<float> partialsA, ArrayView<float> partialsB, ArrayView<float> totals, int slot)
    {
        float a = 0, b = 0;
        for (int i = 0; i < partialsA.IntLength; i++) a += partialsA[i];
        for (int i = 0; i < partialsB.IntLength; i++) b += partialsB[i];
        totals[slot] = a + b;
    }
}
