using System.Runtime.CompilerServices;
using ILGPU;

namespace Vae.Gpu.Kernels;

/// <summary>
/// What a kernel does to each output after its sum: the fusions that save a pass over memory.
/// Applied in this order: bias, accumulate into the existing output, ReLU, sigmoid, mask.
/// </summary>
[Flags]
public enum EpilogueFlags
{
    None = 0,
    /// <summary>Add bias[channel] (conv) or bias[column] (GEMM).</summary>
    Bias = 1,
    /// <summary>Add the value already in the output (gradient of a tensor that feeds two layers).</summary>
    Accumulate = 2,
    Relu = 4,
    Sigmoid = 8,
    /// <summary>Keep the value only where mask[i] &gt; 0: ReLU's backward, fused into the producer of the gradient.</summary>
    MaskPositive = 16,
}

internal static class Epilogue
{
    /// <summary>Finishes one output element; <paramref name="channel"/> indexes the bias.</summary>
    public static void Store(
        ArrayView<float> output, int index, float sum, int channel,
        ArrayView<float> bias, ArrayView<float> mask, int flags)
    {
        if ((flags & (int)EpilogueFlags.Bias) != 0) sum += bias[channel];
        if ((flags & (int)EpilogueFlags.Accumulate) != 0) sum += output[index];
        if ((flags & (int)EpilogueFlags.Relu) != 0) sum = sum > 0f ? sum : 0f;
        if ((flags & (int)EpilogueFlags.Sigmoid) != 0) sum = 1f / (1f + MathF.Exp(-sum));
        if ((flags & (int)EpilogueFlags.MaskPositive) != 0 && !(mask[index] > 0f)) sum = 0f;
        output[index] = sum;
    }

    /// <summary>
    /// <see cref="Store"/> for <paramref name="width"/> consecutive outputs from a work-item's private row:
    /// each flag is tested once per row and applied in a loop of its own, so every loop is a plain one that a
    /// vectorizer takes. (Store's per-element branches kept PoCL's stores scalar, which cost two-thirds of a
    /// GEMM's time.) Same operations in the same order as Store, so the same results. The bias of output x is
    /// bias[biasAt + x * biasStep]: step 1 for a GEMM's columns, 0 for a convolution's channel.
    /// </summary>
    public static void StoreRow(
        ArrayView<float> output, int at, ArrayView<float> row, int from, int width, int biasAt, int biasStep,
        ArrayView<float> bias, ArrayView<float> mask, int flags)
    {
        if ((flags & (int)EpilogueFlags.Bias) != 0)
            for (int x = 0; x < width; x++) row[from + x] += bias[biasAt + x * biasStep];
        if ((flags & (int)EpilogueFlags.Accumulate) != 0)
            for (int x = 0; x < width; x++) row[from + x] += output[at + x];
        if ((flags & (int)EpilogueFlags.Relu) != 0)
            for (int x = 0; x < width; x++) row[from + x] = row[from + x] > 0f ? row[from + x] : 0f;
        if ((flags & (int)EpilogueFlags.Sigmoid) != 0)
            for (int x = 0; x < width; x++) row[from + x] = 1f / (1f + MathF.Exp(-row[from + x]));
        if ((flags & (int)EpilogueFlags.MaskPositive) != 0)
            for (int x = 0; x < width; x++) row[from + x] = mask[at + x] > 0f ? row[from + x] : 0f;
        for (int x = 0; x < width; x++) output[at + x] = row[from + x];
    }

    /// <summary>
    /// <see cref="StoreRow"/> for exactly <paramref name="lanes"/> outputs (a constant where it is inlined), the
    /// full tile of the lane versions: every loop has that fixed trip count, so each becomes one vector operation with no remainder
    /// loop or overlap checks (StoreRow's variable width cost the lane versions more than their sums).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreLanes(
        ArrayView<float> output, int at, ArrayView<float> row, int from, int biasAt, int biasStep,
        ArrayView<float> bias, ArrayView<float> mask, int flags, int lanes)
    {
        // The training step's combinations in one pass each (bias per channel for a convolution, per column for a
        // GEMM), straight from the accumulators to the output: the general sequence below stores each step back
        // into the private row and reads it again.
        if (flags == (int)(EpilogueFlags.Bias | EpilogueFlags.Relu) && biasStep == 0)
        {
            float b = bias[biasAt];
            for (int x = 0; x < lanes; x++)
            {
                float v = row[from + x] + b;
                output[at + x] = v > 0f ? v : 0f;
            }
            return;
        }
        if (flags == (int)(EpilogueFlags.Bias | EpilogueFlags.Relu) && biasStep == 1)
        {
            for (int x = 0; x < lanes; x++)
            {
                float v = row[from + x] + bias[biasAt + x];
                output[at + x] = v > 0f ? v : 0f;
            }
            return;
        }
        if (flags == (int)EpilogueFlags.MaskPositive)
        {
            for (int x = 0; x < lanes; x++) output[at + x] = mask[at + x] > 0f ? row[from + x] : 0f;
            return;
        }
        if (flags == (int)EpilogueFlags.None)
        {
            for (int x = 0; x < lanes; x++) output[at + x] = row[from + x];
            return;
        }
        if ((flags & (int)EpilogueFlags.Bias) != 0)
        {
            if (biasStep == 0)
            {
                float b = bias[biasAt];
                for (int x = 0; x < lanes; x++) row[from + x] += b;
            }
            else
            {
                for (int x = 0; x < lanes; x++) row[from + x] += bias[biasAt + x * biasStep];
            }
        }
        if ((flags & (int)EpilogueFlags.Accumulate) != 0)
            for (int x = 0; x < lanes; x++) row[from + x] += output[at + x];
        if ((flags & (int)EpilogueFlags.Relu) != 0)
            for (int x = 0; x < lanes; x++) row[from + x] = row[from + x] > 0f ? row[from + x] : 0f;
        if ((flags & (int)EpilogueFlags.Sigmoid) != 0)
            for (int x = 0; x < lanes; x++) row[from + x] = 1f / (1f + MathF.Exp(-row[from + x]));
        if ((flags & (int)EpilogueFlags.MaskPositive) != 0)
            for (int x = 0; x < lanes; x++) row[from + x] = mask[at + x] > 0f ? row[from + x] : 0f;
        for (int x = 0; x < lanes; x++) output[at + x] = row[from + x];
    }

    /// <summary>
    /// <see cref="StoreLanes"/> for a vector of <paramref name="lanes"/> outputs that lands in two places: lane x
    /// goes to output[first + x] where firstLo &lt;= x &lt; firstEnd and to output[second + x] where
    /// secondLo &lt;= x &lt; secondEnd (disjoint), and nowhere else (conv v8's runs, which cross a row's end; the
    /// bias is per channel). Each loop is a fixed-width one with masked stores; every read of the output or the
    /// mask is under the same condition as the store it serves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreLanesSplit(
        ArrayView<float> output, int first, int firstLo, int firstEnd, int second, int secondLo, int secondEnd,
        ArrayView<float> row, int from, int channel, ArrayView<float> bias, ArrayView<float> mask, int flags, int lanes)
    {
        if (flags == (int)(EpilogueFlags.Bias | EpilogueFlags.Relu))
        {
            float b = bias[channel];
            for (int x = 0; x < lanes; x++)
            {
                float v = row[from + x] + b;
                v = v > 0f ? v : 0f;
                if (x >= firstLo && x < firstEnd) output[first + x] = v;
                if (x >= secondLo && x < secondEnd) output[second + x] = v;
            }
            return;
        }
        if (flags == (int)EpilogueFlags.MaskPositive)
        {
            for (int x = 0; x < lanes; x++)
            {
                float v = row[from + x];
                if (x >= firstLo && x < firstEnd) output[first + x] = mask[first + x] > 0f ? v : 0f;
                if (x >= secondLo && x < secondEnd) output[second + x] = mask[second + x] > 0f ? v : 0f;
            }
            return;
        }
        if ((flags & (int)EpilogueFlags.Bias) != 0)
        {
            float b = bias[channel];
            for (int x = 0; x < lanes; x++) row[from + x] += b;
        }
        if ((flags & (int)EpilogueFlags.Accumulate) != 0)
            for (int x = 0; x < lanes; x++)
            {
                if (x >= firstLo && x < firstEnd) row[from + x] += output[first + x];
                if (x >= secondLo && x < secondEnd) row[from + x] += output[second + x];
            }
        if ((flags & (int)EpilogueFlags.Relu) != 0)
            for (int x = 0; x < lanes; x++) row[from + x] = row[from + x] > 0f ? row[from + x] : 0f;
        if ((flags & (int)EpilogueFlags.Sigmoid) != 0)
            for (int x = 0; x < lanes; x++) row[from + x] = 1f / (1f + MathF.Exp(-row[from + x]));
        if ((flags & (int)EpilogueFlags.MaskPositive) != 0)
            for (int x = 0; x < lanes; x++)
            {
                if (x >= firstLo && x < firstEnd) row[from + x] = mask[first + x] > 0f ? row[from + x] : 0f;
                if (x >= secondLo && x < secondEnd) row[from + x] = mask[second + x] > 0f ? row[from + x] : 0f;
            }
        for (int x = 0; x < lanes; x++)
        {
            if (x >= firstLo && x < firstEnd) output[first + x] = row[from + x];
            if (x >= secondLo && x < secondEnd) output[second + x] = row[from + x];
        }
    }
}

/// <summary>The epilogue's flags as words, for launch labels and the lab's tables.</summary>
public static class EpilogueNames
{
    /// <summary>" +bias +relu" and the like; empty for none.</summary>
    public static string Suffix(EpilogueFlags flags) =>
        flags == EpilogueFlags.None ? "" : " " + string.Join(" ", Enum.GetValues<EpilogueFlags>()
            .Where(f => f != EpilogueFlags.None && flags.HasFlag(f)).Select(f => "+" + f.ToString().ToLowerInvariant()));
}
