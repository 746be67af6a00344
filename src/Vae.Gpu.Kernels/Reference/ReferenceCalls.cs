namespace Vae.Gpu.Kernels.Reference;

/// <summary>
/// The versioned families' calls (<see cref="ConvCall"/>, <see cref="WeightGradCall"/>, <see cref="GemmCall"/>) in
/// double precision, written from their definitions on top of <see cref="ReferenceOps"/>: what every version of a
/// family is validated against.
/// </summary>
public static class ReferenceCalls
{
    /// <summary>x (planes, H, W) surrounded by p zeros.</summary>
    public static double[] Pad(double[] x, int planes, int h, int w, int p)
    {
        int ph = h + 2 * p, pw = w + 2 * p;
        var y = new double[planes * ph * pw];
        for (int q = 0; q < planes; q++)
            for (int r = 0; r < h; r++)
                for (int c = 0; c < w; c++)
                    y[(q * ph + r + p) * pw + c + p] = x[(q * h + r) * w + c];
        return y;
    }

    /// <summary>w (P, Q, K, K) -> (Q, P, K, K) rotated 180 degrees.</summary>
    public static double[] FlipTranspose(double[] w, int p, int q, int k)
    {
        var y = new double[w.Length];
        for (int a = 0; a < p; a++)
            for (int b = 0; b < q; b++)
                for (int u = 0; u < k; u++)
                    for (int v = 0; v < k; v++)
                        y[((b * p + a) * k + u) * k + v] = w[((a * q + b) * k + (k - 1 - u)) * k + (k - 1 - v)];
        return y;
    }

    /// <summary>
    /// The epilogue on finished sums, in the kernels' order: bias[channel(i)], the prior output, ReLU, sigmoid,
    /// the mask (keep where mask &gt; 0).
    /// </summary>
    public static double[] Epilogue(double[] sum, EpilogueFlags flags, Func<int, int> channel, double[]? bias, double[]? prior, double[]? mask)
    {
        var y = (double[])sum.Clone();
        for (int i = 0; i < y.Length; i++)
        {
            if (flags.HasFlag(EpilogueFlags.Bias)) y[i] += bias![channel(i)];
            if (flags.HasFlag(EpilogueFlags.Accumulate)) y[i] += prior![i];
            if (flags.HasFlag(EpilogueFlags.Relu)) y[i] = Math.Max(y[i], 0);
            if (flags.HasFlag(EpilogueFlags.Sigmoid)) y[i] = 1 / (1 + Math.Exp(-y[i]));
            if (flags.HasFlag(EpilogueFlags.MaskPositive) && !(mask![i] > 0)) y[i] = 0;
        }
        return y;
    }

    /// <summary>The convolution call on its stored input (without the border) and stored weight.</summary>
    public static double[] Conv(ConvCall c, double[] input, double[] weight, double[]? bias, double[]? prior, double[]? mask)
    {
        var s = c.Shape;
        var x = c.Pad > 0 ? Pad(input, s.Batch * s.InChannels, s.InHeight - 2 * c.Pad, s.InWidth - 2 * c.Pad, c.Pad) : input;
        var w = c.Flipped ? FlipTranspose(weight, s.InChannels, s.OutChannels, s.Kernel) : weight;
        var sum = ReferenceOps.Conv2d(x, w, new double[s.OutChannels], s.Batch, s.InChannels, s.OutChannels, s.InHeight, s.InWidth, s.Kernel);
        int plane = s.OutHeight * s.OutWidth;
        return Epilogue(sum, c.Flags, i => i / plane % s.OutChannels, bias, prior, mask);
    }

    /// <summary>The weight gradient followed by the bias gradient, from the gradient side and the input side.</summary>
    public static double[] WeightGrad(WeightGradCall c, double[] grad, double[] input)
    {
        var s = c.Shape;
        var dw = ReferenceOps.Conv2dBackward(input, new double[s.WeightLength], grad, s.Batch, s.InChannels, s.OutChannels, s.InHeight, s.InWidth, s.Kernel).dw;
        var source = c.BiasFromInput ? input : grad;
        var db = new double[c.BiasChannels];
        int plane = c.BiasPlane;
        for (int i = 0; i < source.Length && c.BiasChannels > 0; i++) db[i / plane % c.BiasChannels] += source[i];
        return dw.Concat(db).ToArray();
    }

    /// <summary>C (M, N) = epilogue(A B) with the call's strides; the bias is per column.</summary>
    public static double[] Gemm(GemmCall c, double[] a, double[] b, double[]? bias, double[]? prior, double[]? mask)
    {
        var s = c.Shape;
        var sum = new double[s.M * s.N];
        Parallel.For(0, s.M, m =>
        {
            for (int n = 0; n < s.N; n++)
            {
                double acc = 0;
                for (int k = 0; k < s.K; k++) acc += a[m * s.StrideAm + k * s.StrideAk] * b[k * s.StrideBk + n * s.StrideBn];
                sum[m * s.N + n] = acc;
            }
        });
        return Epilogue(sum, c.Flags, i => i % s.N, bias, prior, mask);
    }
}
