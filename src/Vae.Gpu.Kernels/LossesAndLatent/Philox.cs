namespace Vae.Gpu.Kernels;

/// <summary>
/// Philox4x32-10 (Salmon et al., 2011): a counter-based generator. The normal for element i of step t
/// depends only on (seed, t, i), never on the thread layout, so every accelerator draws the same noise.
/// </summary>
public static class Philox
{
    const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>The first two 32-bit words of Philox4x32-10 at counter (index, step lo, step hi, 0).</summary>
    public static void Bits(ulong seed, ulong step, uint index, out uint r0, out uint r1)
    {
        uint c0 = index, c1 = (uint)step, c2 = (uint)(step >> 32), c3 = 0;
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0, hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            c0 = hi1 ^ c1 ^ k0; c1 = lo1; c2 = hi0 ^ c3 ^ k1; c3 = lo0;
            k0 += W0; k1 += W1;
        }
        r0 = c0; r1 = c1;
    }

    /// <summary>A standard normal by Box-Muller on 24-bit uniforms: u1 in (0, 1], u2 in [0, 1).</summary>
    public static float Normal(ulong seed, ulong step, uint index)
    {
        Bits(seed, step, index, out uint r0, out uint r1);
        float u1 = ((r0 >> 8) + 1) * (1f / 16777216f);
        float u2 = (r1 >> 8) * (1f / 16777216f);
        // CUDA's approximate log can return a tiny positive value for u1 just below 1: clamp, or sqrt gives NaN.
        return MathF.Sqrt(MathF.Max(0f, -2f * MathF.Log(u1))) * MathF.Cos(2f * MathF.PI * u2);
    }
}
