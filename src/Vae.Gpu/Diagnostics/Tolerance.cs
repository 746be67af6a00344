namespace Vae.Gpu.Diagnostics;

/// <summary>
/// The one error measure of the tests, <c>check</c>, the kernel lab and <c>tune</c>, as llm.c's harness has it:
/// element i agrees when |got_i - ref_i| &lt;= Atol + Rtol * |ref_i|. A comparison's error is the worst ratio
/// |got - ref| / (Atol + Rtol |ref|) over the elements: at most 1 agrees; NaN, infinity or a length mismatch is infinite.
/// </summary>
public readonly record struct Tolerance(double Atol, double Rtol)
{
    public double Error(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        if (actual.Length != expected.Length) return double.PositiveInfinity;
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            if (!float.IsFinite(actual[i])) return double.PositiveInfinity;
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]) / (Atol + Rtol * Math.Abs(expected[i])));
        }
        return worst;
    }

    /// <summary>
    /// For outputs that are float32 sums of <paramref name="terms"/> products of values in [-1, 1] (the harness's
    /// inputs): rounding grows like the square root of the count, so atol does too, with about a tenfold margin
    /// over the largest rounding <c>vae-gpu check</c> shows on CPUs (docs/kernels.md, "How they are checked").
    /// </summary>
    public static Tolerance ForSums(long terms) => new(4e-6 * Math.Sqrt(Math.Max(1, terms)), 1e-5);

    /// <summary>For results of a few float32 operations per element (losses, noise, Adam, copies).</summary>
    public static readonly Tolerance Elementwise = new(1e-5, 1e-5);

    /// <summary>Relative to the data's own scale, for whole layers and models whose sums are not counted:
    /// atol = <paramref name="relative"/> x the largest |ref|.</summary>
    public static Tolerance OfScale(double relative, ReadOnlySpan<double> expected)
    {
        double scale = 0;
        foreach (var v in expected) scale = Math.Max(scale, Math.Abs(v));
        return new(relative * Math.Max(scale, 1e-30), relative);
    }

    /// <summary>Two float32 results against each other (accelerators): each side rounds, so twice the margin.</summary>
    public Tolerance Doubled => new(2 * Atol, 2 * Rtol);

    public override string ToString() => $"atol {Atol:E1}, rtol {Rtol:E1}";
}
