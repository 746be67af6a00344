namespace Vae.Gpu.Kernels.Reference;

/// <summary>
/// The whole problem-set VAE in double precision, composed from <see cref="ReferenceOps"/>: one forward
/// and backward for a batch, given the parameters by their checkpoint names and the noise eps.
/// </summary>
public sealed class ReferenceVae
{
    public const int ImageSide = 28;
    readonly int _c1, _c2, _lat, _k, _side;
    public ReferenceVae(int c1, int c2, int lat, int k) { _c1 = c1; _c2 = c2; _lat = lat; _k = k; _side = ImageSide - 2 * (k - 1); }

    public int Features => _c2 * _side * _side;

    public sealed record Result(double Loss, double[] Reconstruction, double[] Mu, double[] Sigma, Dictionary<string, double[]> Grads);

    /// <summary>x (B, 1, 28, 28), eps (B, lat); parameters keyed by the checkpoint's tensor names.</summary>
    public Result Step(IReadOnlyDictionary<string, double[]> p, double[] x, double[] eps, int batch, KlKind kind)
    {
        int d = ImageSide, d1 = d - _k + 1, f = Features;
        // Encoder
        var h1 = ReferenceOps.Relu(ReferenceOps.Conv2d(x, p["encoder.conv1.weight"], p["encoder.conv1.bias"], batch, 1, _c1, d, d, _k));
        var h2 = ReferenceOps.Relu(ReferenceOps.Conv2d(h1, p["encoder.conv2.weight"], p["encoder.conv2.bias"], batch, _c1, _c2, d1, d1, _k));
        var mu = ReferenceOps.Linear(h2, p["encoder.mean.weight"], p["encoder.mean.bias"], batch, f, _lat);
        var logSigma = ReferenceOps.Linear(h2, p["encoder.std.weight"], p["encoder.std.bias"], batch, f, _lat);
        var sigma = ReferenceOps.Exp(logSigma);
        var z = mu.Select((m, i) => m + sigma[i] * eps[i]).ToArray();
        // Decoder
        var g1 = ReferenceOps.Relu(ReferenceOps.Linear(z, p["decoder.linear.weight"], p["decoder.linear.bias"], batch, _lat, f));
        var g2 = ReferenceOps.Relu(ReferenceOps.ConvTranspose2d(g1, p["decoder.deconv1.weight"], p["decoder.deconv1.bias"], batch, _c2, _c1, _side, _side, _k));
        var y = ReferenceOps.Sigmoid(ReferenceOps.ConvTranspose2d(g2, p["decoder.deconv2.weight"], p["decoder.deconv2.bias"], batch, _c1, 1, d1, d1, _k));
        double loss = ReferenceOps.BinaryCrossEntropy(x, y) + ReferenceOps.Kl(mu, sigma, kind);

        var grads = new Dictionary<string, double[]>();
        var dLogit = ReferenceOps.SigmoidBackward(y, ReferenceOps.BinaryCrossEntropyGrad(x, y));
        var (dg2, dw, db) = ReferenceOps.ConvTranspose2dBackward(g2, p["decoder.deconv2.weight"], dLogit, batch, _c1, 1, d1, d1, _k);
        grads["decoder.deconv2.weight"] = dw; grads["decoder.deconv2.bias"] = db;
        (var dg1, dw, db) = ReferenceOps.ConvTranspose2dBackward(g1, p["decoder.deconv1.weight"], ReferenceOps.ReluBackward(g2, dg2), batch, _c2, _c1, _side, _side, _k);
        grads["decoder.deconv1.weight"] = dw; grads["decoder.deconv1.bias"] = db;
        (var dz, dw, db) = ReferenceOps.LinearBackward(z, p["decoder.linear.weight"], ReferenceOps.ReluBackward(g1, dg1), batch, _lat, f);
        grads["decoder.linear.weight"] = dw; grads["decoder.linear.bias"] = db;

        var (dKlMu, dKlSigma) = ReferenceOps.KlGrad(mu, sigma, kind);
        var dMu = dz.Select((g, i) => g + dKlMu[i]).ToArray();
        var dLogSigma = dz.Select((g, i) => (g * eps[i] + dKlSigma[i]) * sigma[i]).ToArray();
        (var dh2Mean, dw, db) = ReferenceOps.LinearBackward(h2, p["encoder.mean.weight"], dMu, batch, f, _lat);
        grads["encoder.mean.weight"] = dw; grads["encoder.mean.bias"] = db;
        (var dh2Std, dw, db) = ReferenceOps.LinearBackward(h2, p["encoder.std.weight"], dLogSigma, batch, f, _lat);
        grads["encoder.std.weight"] = dw; grads["encoder.std.bias"] = db;
        var dh2 = ReferenceOps.ReluBackward(h2, dh2Mean.Select((g, i) => g + dh2Std[i]).ToArray());
        (var dh1, dw, db) = ReferenceOps.Conv2dBackward(h1, p["encoder.conv2.weight"], dh2, batch, _c1, _c2, d1, d1, _k);
        grads["encoder.conv2.weight"] = dw; grads["encoder.conv2.bias"] = db;
        (_, dw, db) = ReferenceOps.Conv2dBackward(x, p["encoder.conv1.weight"], ReferenceOps.ReluBackward(h1, dh1), batch, 1, _c1, d, d, _k);
        grads["encoder.conv1.weight"] = dw; grads["encoder.conv1.bias"] = db;
        return new Result(loss, y, mu, sigma, grads);
    }
}
