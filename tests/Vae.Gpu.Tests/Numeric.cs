using Vae.Gpu.Devices;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Tests;

/// <summary>Seeded random data and the comparisons of kernel results with the double-precision oracle.</summary>
public static class Numeric
{
    public static double[] Random(Random rng, int n, double lo = -1, double hi = 1) =>
        Enumerable.Range(0, n).Select(_ => lo + (hi - lo) * rng.NextDouble()).ToArray();

    public static float[] ToFloat(double[] a) => a.Select(v => (float)v).ToArray();
    public static double[] ToDouble(float[] a) => a.Select(v => (double)v).ToArray();

    /// <summary>Rounds to float and back, so the oracle sees exactly the inputs the kernel sees.</summary>
    public static double[] Representable(double[] a) => ToDouble(ToFloat(a));

    public static Tensor Upload(ComputeDevice device, double[] data, params int[] shape) =>
        Tensor.FromArray(device, ToFloat(data), shape);

    public static Tensor Poisoned(ComputeDevice device, params int[] shape)
    {
        var t = Tensor.Zeros(device, shape);
        t.Poison();
        return t;
    }

    /// <summary>
    /// Whole layers and models whose sums are not counted are held to their own scale: per element
    /// |got - ref| &lt;= tolerance x (max |ref| + |ref|) (<see cref="Diagnostics.Tolerance.OfScale"/>); float32 kernels summing a
    /// few thousand terms stay well inside 2e-5.
    /// </summary>
    public const double Tolerance = 2e-5;

    public static void AssertClose(float[] actual, double[] expected, string what, double tolerance = Tolerance) =>
        AssertClose(actual, expected, what, Vae.Gpu.Diagnostics.Tolerance.OfScale(tolerance, expected));

    /// <summary>The library's one measure (<see cref="Diagnostics.Tolerance"/>): every element within atol + rtol |ref|.</summary>
    public static void AssertClose(float[] actual, double[] expected, string what, Vae.Gpu.Diagnostics.Tolerance tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(expected.Any(v => v != 0), $"{what}: the reference is all zeros, so the test proves nothing");
        double err = tolerance.Error(actual, expected);
        Assert.True(err <= 1, $"{what}: error {err:F2} of the tolerance ({tolerance}); {WorstElements(actual, expected)}");
    }

    /// <summary>Where a mismatch is (unwritten NaNs, one stray block, or noise everywhere), for a failure message.</summary>
    static string WorstElements(float[] actual, double[] expected)
    {
        int nan = actual.Count(float.IsNaN), worst = 0, off = 0;
        double scale = expected.Max(Math.Abs), worstDiff = -1;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = float.IsNaN(actual[i]) ? double.PositiveInfinity : Math.Abs(actual[i] - expected[i]);
            if (d > 1e-4 * scale) off++;
            if (d > worstDiff) { worstDiff = d; worst = i; }
        }
        return $"{off} of {actual.Length} elements off by more than 1e-4 of the largest ({nan} NaN); worst [{worst}]: {actual[worst]} vs {expected[worst]:G7}";
    }
}
