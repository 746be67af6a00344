namespace Vae.Gpu.Kernels;

/// <summary>
/// C (M, N) = A (M, K) * B (K, N), where A[m, k] = a[m * StrideAm + k * StrideAk] and
/// B[k, n] = b[k * StrideBk + n * StrideBn]: strides express every transpose the linear layers need.
/// </summary>
public readonly struct GemmShape
{
    public readonly int M, N, K, StrideAm, StrideAk, StrideBk, StrideBn;

    public GemmShape(int m, int n, int k, int strideAm, int strideAk, int strideBk, int strideBn)
    {
        M = m; N = n; K = k;
        StrideAm = strideAm; StrideAk = strideAk; StrideBk = strideBk; StrideBn = strideBn;
    }

    public long MultiplyAdds => (long)M * N * K;

    public override string ToString() => $"{M}x{N}x{K}";
}
