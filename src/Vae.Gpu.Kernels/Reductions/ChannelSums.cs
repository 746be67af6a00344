using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class ReductionKernels
{
    /// <summary>
    /// partials[c, ch] = sum_{b in chunk c, spatial} grad[b, ch, .]: the bias gradient before the fixed-order
    /// sum over chunks. One thread per (chunk, channel).
    /// </summary>
    public static void ChannelSumPartials(
        Index1D index, int stride, ArrayView<float> grad, int batch, int channels, int plane, int chunks, ArrayView<float> partials)
    {
        for (int i = index; i < chunks * channels; i += stride)
            partials[i] = ChannelSumOf(i, grad, batch, channels, plane, chunks);
    }

    internal static float ChannelSumOf(int index, ArrayView<float> grad, int batch, int channels, int plane, int chunks)
    {
        int ch = index % channels, chunk = index / channels;
        int perChunk = DivUp(batch, chunks);
        int bEnd = Min(chunk * perChunk + perChunk, batch);
        float sum = 0;
        for (int b = chunk * perChunk; b < bEnd; b++)
        {
            int start = (b * channels + ch) * plane;
            for (int j = 0; j < plane; j++) sum += grad[start + j];
        }
        return sum;
    }

    /// <summary>
    /// <see cref="ChannelSumOf"/> for CPUs: 16 running sums, lane x taking the plane's elements j = x mod 16 of
    /// every image in order (an innermost loop of exactly 16, one vector register), then the plane's last
    /// ragged elements in one more running sum, then the lanes in a fixed order and that sum. One running sum is
    /// a chain of dependent adds that LLVM may not split (no reassociation), a few cycles per element: about
    /// 2.5 ms of the default model's step went to the four convolutions' bias sums. The same result on every
    /// rerun; not the same rounding as <see cref="ChannelSumOf"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float LaneChannelSumOf(int index, ArrayView<float> grad, int batch, int channels, int plane, int chunks)
    {
        const int lanes = LaneTiles.WideWidth;
        var acc = LocalMemory.Allocate<float>(lanes);
        for (int x = 0; x < lanes; x++) acc[x] = 0f;
        int ch = index % channels, chunk = index / channels;
        int perChunk = DivUp(batch, chunks);
        int bEnd = Min(chunk * perChunk + perChunk, batch);
        float tail = 0;
        for (int b = chunk * perChunk; b < bEnd; b++)
            tail = AddPlaneLanes(grad.SubView((b * channels + ch) * plane, plane), acc, tail);
        return LaneTiles.WideSum(acc, 0) + tail;
    }

    /// <summary>One plane added into 16 running sums (<paramref name="sums"/>, 16 lanes) and its last ragged
    /// positions into <paramref name="tail"/>, returned: the order of <see cref="LaneChannelSumOf"/>, which the
    /// weight gradients' bias sums within their turns keep too.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float AddPlaneLanes(ArrayView<float> row, ArrayView<float> sums, float tail)
    {
        const int lanes = LaneTiles.WideWidth;
        int plane = (int)row.Length, full = plane / lanes * lanes;
        for (int j = 0; j < full; j += lanes)
        {
            var part = row.SubView(j, lanes);
            for (int x = 0; x < lanes; x++) sums[x] += part[x];
        }
        for (int j = full; j < plane; j++) tail += row[j];
        return tail;
    }

    /// <summary>Columns a work-item of <see cref="ColumnSums"/> sums: 16 floats, a whole cache line of each row.</summary>
    public const int ColumnSumLanes = LaneTiles.WideWidth;

    /// <summary>
    /// sums[c] = sum over b of grad[b, c], b in order (a linear layer's bias gradient, channels of plane 1) for
    /// CPUs: a work-item sums <see cref="ColumnSumLanes"/> consecutive columns with an innermost loop of exactly
    /// that many and no condition, so its sums stay in vector registers (one thread per column, as
    /// <see cref="ChannelSumPartials"/> runs on a CPU, reads with a stride of C and stays scalar), and each row's
    /// read is one whole cache line (8 columns read half of one, the other half by another work-item). Same order
    /// of the sum, so the same result.
    /// </summary>
    [CpuOnly]
    public static void ColumnSums(Index1D index, int stride, ArrayView<float> grad, int batch, int columns, ArrayView<float> sums)
    {
        const int lanes = ColumnSumLanes;
        var acc = LocalMemory.Allocate<float>(lanes);
        for (int tile = index; tile < DivUp(columns, lanes); tile += stride)
        {
            int c0 = tile * lanes;
            if (c0 + lanes <= columns)
            {
                for (int x = 0; x < lanes; x++) acc[x] = 0f;
                for (int b = 0; b < batch; b++)
                    for (int x = 0; x < lanes; x++) acc[x] += grad[b * columns + c0 + x];
                for (int x = 0; x < lanes; x++) sums[c0 + x] = acc[x];
            }
            else
            {
                for (int c = c0; c < columns; c++)
                {
                    float sum = 0;
                    for (int b = 0; b < batch; b++) sum += grad[b * columns + c];
                    sums[c] = sum;
                }
            }
        }
    }
}
