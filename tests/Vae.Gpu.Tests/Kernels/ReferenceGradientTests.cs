using Vae.Gpu.Kernels;
using Vae.Gpu.Kernels.Reference;
using static Vae.Gpu.Tests.Numeric;

namespace Vae.Gpu.Tests.Kernels;

/// <summary>
/// Proves the oracle: every analytic backward of <see cref="ReferenceOps"/> agrees with central finite
/// differences of its forward, in double precision, on the scalar loss L = sum(output * probe).
/// </summary>
public class ReferenceGradientTests
{
    const double H = 1e-6, Tol = 1e-6;

    static double Dot(double[] a, double[] b) => a.Select((v, i) => v * b[i]).Sum();

    /// <summary>Checks d/da of f at a few coordinates of <paramref name="a"/> against <paramref name="analytic"/>.</summary>
    static void CheckNumeric(Func<double[], double> f, double[] a, double[] analytic, string what, double tol = Tol)
    {
        var rng = new Random(a.Length);
        for (int trial = 0; trial < 12; trial++)
        {
            int i = rng.Next(a.Length);
            double saved = a[i];
            a[i] = saved + H; double up = f(a);
            a[i] = saved - H; double down = f(a);
            a[i] = saved;
            double numeric = (up - down) / (2 * H);
            Assert.True(Math.Abs(numeric - analytic[i]) <= tol * Math.Max(1, Math.Abs(numeric)),
                $"{what}[{i}]: finite difference {numeric} vs analytic {analytic[i]}");
        }
    }

    [Fact]
    public void Conv2dBackwardMatchesFiniteDifferences()
    {
        var rng = new Random(1);
        int b = 2, ci = 3, co = 4, h = 7, w = 6, k = 3;
        var x = Random(rng, b * ci * h * w); var wt = Random(rng, co * ci * k * k); var bias = Random(rng, co);
        var probe = Random(rng, b * co * (h - k + 1) * (w - k + 1));
        CheckLayer("conv2d", (xx, ww, bb) => ReferenceOps.Conv2d(xx, ww, bb, b, ci, co, h, w, k),
            ReferenceOps.Conv2dBackward(x, wt, probe, b, ci, co, h, w, k), x, wt, bias, probe);
    }

    [Fact]
    public void ConvTranspose2dBackwardMatchesFiniteDifferences()
    {
        var rng = new Random(2);
        int b = 2, ci = 3, co = 2, h = 5, w = 6, k = 3;
        var x = Random(rng, b * ci * h * w); var wt = Random(rng, ci * co * k * k); var bias = Random(rng, co);
        var probe = Random(rng, b * co * (h + k - 1) * (w + k - 1));
        CheckLayer("convtranspose2d", (xx, ww, bb) => ReferenceOps.ConvTranspose2d(xx, ww, bb, b, ci, co, h, w, k),
            ReferenceOps.ConvTranspose2dBackward(x, wt, probe, b, ci, co, h, w, k), x, wt, bias, probe);
    }

    [Fact]
    public void LinearBackwardMatchesFiniteDifferences()
    {
        var rng = new Random(3);
        int b = 3, inF = 7, outF = 5;
        var x = Random(rng, b * inF); var wt = Random(rng, outF * inF); var bias = Random(rng, outF);
        var probe = Random(rng, b * outF);
        CheckLayer("linear", (xx, ww, bb) => ReferenceOps.Linear(xx, ww, bb, b, inF, outF),
            ReferenceOps.LinearBackward(x, wt, probe, b, inF, outF), x, wt, bias, probe);
    }

    /// <summary>A layer's three analytic gradients of L = sum(forward(x, w, bias) * probe) against finite differences.</summary>
    static void CheckLayer(string name, Func<double[], double[], double[], double[]> forward,
        (double[] dx, double[] dw, double[] db) analytic, double[] x, double[] wt, double[] bias, double[] probe)
    {
        double L(double[] xx, double[] ww, double[] bb) => Dot(forward(xx, ww, bb), probe);
        CheckNumeric(a => L(a, wt, bias), x, analytic.dx, $"{name} dx");
        CheckNumeric(a => L(x, a, bias), wt, analytic.dw, $"{name} dw");
        CheckNumeric(a => L(x, wt, a), bias, analytic.db, $"{name} db");
    }

    [Fact]
    public void ActivationBackwardsMatchFiniteDifferences()
    {
        var rng = new Random(4);
        // Keep ReLU's inputs away from its kink so the difference quotient is defined.
        var x = Random(rng, 40).Select(v => v + Math.Sign(v) * 0.01).ToArray();
        var probe = Random(rng, 40);
        CheckNumeric(a => Dot(ReferenceOps.Relu(a), probe), x, ReferenceOps.ReluBackward(ReferenceOps.Relu(x), probe), "relu");
        CheckNumeric(a => Dot(ReferenceOps.Sigmoid(a), probe), x, ReferenceOps.SigmoidBackward(ReferenceOps.Sigmoid(x), probe), "sigmoid");
        var expX = ReferenceOps.Exp(x);
        CheckNumeric(a => Dot(ReferenceOps.Exp(a), probe), x, probe.Select((p, i) => p * expX[i]).ToArray(), "exp");
    }

    [Fact]
    public void LossGradientsMatchFiniteDifferences()
    {
        var rng = new Random(5);
        var target = Random(rng, 30, 0, 1);
        var y = Random(rng, 30, 0.05, 0.95);
        CheckNumeric(a => ReferenceOps.BinaryCrossEntropy(target, a), y, ReferenceOps.BinaryCrossEntropyGrad(target, y), "bce");
        var mu = Random(rng, 20); var sigma = Random(rng, 20, 0.3, 2);
        foreach (var kind in new[] { KlKind.Seed, KlKind.Standard })
        {
            var (dMu, dSigma) = ReferenceOps.KlGrad(mu, sigma, kind);
            CheckNumeric(a => ReferenceOps.Kl(a, sigma, kind), mu, dMu, $"kl dmu {kind}");
            CheckNumeric(a => ReferenceOps.Kl(mu, a, kind), sigma, dSigma, $"kl dsigma {kind}");
        }
    }

    [Fact]
    public void WholeReferenceVaeGradientsMatchFiniteDifferences()
    {
        var rng = new Random(6);
        const int c1 = 2, c2 = 3, lat = 2, k = 3, batch = 2;
        var vae = new ReferenceVae(c1, c2, lat, k);
        var shapes = ReferenceShapes(c1, c2, lat, k, vae.Features);
        var p = shapes.ToDictionary(s => s.Key, s => Random(rng, s.Value, -0.3, 0.3));
        var x = Random(rng, batch * 784, 0, 1);
        var eps = Random(rng, batch * lat);
        foreach (var kind in new[] { KlKind.Seed, KlKind.Standard })
        {
            var result = vae.Step(p, x, eps, batch, kind);
            foreach (var name in p.Keys)
                // The loss is ~1e3 (a sum over 1568 pixels), so its difference quotient carries ~1e-6 of rounding.
                CheckNumeric(a => vae.Step(p, x, eps, batch, kind).Loss, p[name], result.Grads[name], $"{kind} {name}", 2e-5);
        }
    }

    internal static Dictionary<string, int> ReferenceShapes(int c1, int c2, int lat, int k, int f) => new()
    {
        ["encoder.conv1.weight"] = c1 * k * k, ["encoder.conv1.bias"] = c1,
        ["encoder.conv2.weight"] = c2 * c1 * k * k, ["encoder.conv2.bias"] = c2,
        ["encoder.mean.weight"] = lat * f, ["encoder.mean.bias"] = lat,
        ["encoder.std.weight"] = lat * f, ["encoder.std.bias"] = lat,
        ["decoder.linear.weight"] = f * lat, ["decoder.linear.bias"] = f,
        ["decoder.deconv1.weight"] = c2 * c1 * k * k, ["decoder.deconv1.bias"] = c1,
        ["decoder.deconv2.weight"] = c1 * k * k, ["decoder.deconv2.bias"] = 1,
    };
}
