using Vae.Gpu.Devices;

namespace Vae.Gpu.Analysis;

/// <summary>
/// The analysis's guard against numbers that are not finite: a model whose weights are finite can still give
/// NaN or infinity (sigma = exp of a huge log sigma), and a report of NaN is no report. The first such value is
/// named, and nothing is written.
/// </summary>
public static class Finite
{
    /// <summary>Throws naming the first non-finite value of <paramref name="values"/>, (image, dimension) rows of <paramref name="lat"/>.</summary>
    public static void Require(string what, float[] values, int lat)
    {
        int i = Array.FindIndex(values, v => !float.IsFinite(v));
        if (i >= 0)
            throw new VaeException($"{what} of test image {i / lat}, latent dimension {i % lat}, is {values[i]}: the model's numbers overflow on " +
                                   "this data although its weights are finite; nothing was written: retrain, or analyze an earlier checkpoint");
    }

    /// <summary>Throws naming the first test image whose value of <paramref name="what"/> is not finite.</summary>
    public static void RequireEachImage(string what, float[] perImage)
    {
        int i = Array.FindIndex(perImage, v => !float.IsFinite(v));
        if (i >= 0) Require($"{what} of test image {i}", perImage[i]);
    }

    /// <summary>Throws naming <paramref name="what"/> when <paramref name="value"/> is not finite.</summary>
    public static void Require(string what, double value)
    {
        if (!double.IsFinite(value))
            throw new VaeException($"{what} is {value}: the model's numbers overflow on this data although its weights are finite; " +
                                   "nothing was written: retrain, or analyze an earlier checkpoint");
    }
}
