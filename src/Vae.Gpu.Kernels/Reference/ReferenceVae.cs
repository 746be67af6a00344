namespace Vae.Gpu.Kernels.Reference;

/// <summary>
/// The whole VAE in double precision, composed from <see cref="ReferenceOps"/>: one forward and backward for a
/// batch, given the parameters by their checkpoint names and the noise eps. N conv layers on C x H x W images;
/// the problem set's two-layer model on 28x28 gray images is one case of it.
/// </summary>
public sealed class ReferenceVae
{
    public const int ImageSide = 28;
    readonly int[] _channels;
    readonly int _lat, _k, _height, _width;
    readonly string[] _convs, _deconvs;
    readonly string _linear;

    /// <summary>The problem set's model (names conv1, conv2, linear, deconv1, deconv2) on 28x28 gray images.</summary>
    public ReferenceVae(int c1, int c2, int lat, int k)
        : this(new[] { 1, c1, c2 }, ImageSide, ImageSide, lat, k, new[] { "encoder.conv1", "encoder.conv2" }, "decoder.linear", new[] { "decoder.deconv1", "decoder.deconv2" }) { }

    /// <param name="channels">c_0 (the image's) .. c_N.</param>
    /// <param name="convs">The encoder's conv layers' names, first first.</param>
    /// <param name="deconvs">The decoder's transposed convolutions' names, first (reading the features) first.</param>
    public ReferenceVae(int[] channels, int height, int width, int lat, int k, string[] convs, string linear, string[] deconvs)
    {
        _channels = channels; _height = height; _width = width; _lat = lat; _k = k;
        _convs = convs; _linear = linear; _deconvs = deconvs;
    }

    int Depth => _channels.Length - 1;
    (int H, int W) Side(int layer) => (_height - layer * (_k - 1), _width - layer * (_k - 1));

    public int Features => _channels[^1] * Side(Depth).H * Side(Depth).W;

    public sealed record Result(double Loss, double[] Reconstruction, double[] Mu, double[] Sigma, Dictionary<string, double[]> Grads);

    /// <summary>x (B, C, H, W), eps (B, lat); parameters keyed by the checkpoint's tensor names; the KL weighted by <paramref name="klWeight"/>.</summary>
    public Result Step(IReadOnlyDictionary<string, double[]> p, double[] x, double[] eps, int batch, KlKind kind, double klWeight = 1)
    {
        int n = Depth, f = Features;
        // Encoder: h[0] = x, h[i + 1] = ReLU(conv_i(h[i])).
        var h = new double[n + 1][];
        h[0] = x;
        for (int i = 0; i < n; i++)
            h[i + 1] = ReferenceOps.Relu(ReferenceOps.Conv2d(h[i], p[$"{_convs[i]}.weight"], p[$"{_convs[i]}.bias"], batch, _channels[i], _channels[i + 1], Side(i).H, Side(i).W, _k));
        var mu = ReferenceOps.Linear(h[n], p["encoder.mean.weight"], p["encoder.mean.bias"], batch, f, _lat);
        var logSigma = ReferenceOps.Linear(h[n], p["encoder.std.weight"], p["encoder.std.bias"], batch, f, _lat);
        var sigma = ReferenceOps.Exp(logSigma);
        var z = mu.Select((m, i) => m + sigma[i] * eps[i]).ToArray();
        // Decoder: g[n] = ReLU(linear(z)); transposed convolution j takes g[n - j] to g[n - j - 1] (layer sides
        // mirror the encoder's), ReLU after each but the last, which ends in the sigmoid.
        var g = new double[n + 1][];
        g[n] = ReferenceOps.Relu(ReferenceOps.Linear(z, p[$"{_linear}.weight"], p[$"{_linear}.bias"], batch, _lat, f));
        for (int j = 0; j < n; j++)
        {
            int from = n - j;
            var pre = ReferenceOps.ConvTranspose2d(g[from], p[$"{_deconvs[j]}.weight"], p[$"{_deconvs[j]}.bias"], batch, _channels[from], _channels[from - 1], Side(from).H, Side(from).W, _k);
            g[from - 1] = j == n - 1 ? ReferenceOps.Sigmoid(pre) : ReferenceOps.Relu(pre);
        }
        var y = g[0];
        double loss = ReferenceOps.BinaryCrossEntropy(x, y) + klWeight * ReferenceOps.Kl(mu, sigma, kind);

        var grads = new Dictionary<string, double[]>();
        var d = ReferenceOps.SigmoidBackward(y, ReferenceOps.BinaryCrossEntropyGrad(x, y));   // at the last pre-activation
        for (int j = n - 1; j >= 0; j--)
        {
            int from = n - j;
            var (dIn, dw, db) = ReferenceOps.ConvTranspose2dBackward(g[from], p[$"{_deconvs[j]}.weight"], d, batch, _channels[from], _channels[from - 1], Side(from).H, Side(from).W, _k);
            grads[$"{_deconvs[j]}.weight"] = dw; grads[$"{_deconvs[j]}.bias"] = db;
            d = ReferenceOps.ReluBackward(g[from], dIn);
        }
        (var dz, var dwl, var dbl) = ReferenceOps.LinearBackward(z, p[$"{_linear}.weight"], d, batch, _lat, f);
        grads[$"{_linear}.weight"] = dwl; grads[$"{_linear}.bias"] = dbl;

        var (dKlMu, dKlSigma) = ReferenceOps.KlGrad(mu, sigma, kind);
        var dMu = dz.Select((gz, i) => gz + klWeight * dKlMu[i]).ToArray();
        var dLogSigma = dz.Select((gz, i) => (gz * eps[i] + klWeight * dKlSigma[i]) * sigma[i]).ToArray();
        (var dhMean, var dw2, var db2) = ReferenceOps.LinearBackward(h[n], p["encoder.mean.weight"], dMu, batch, f, _lat);
        grads["encoder.mean.weight"] = dw2; grads["encoder.mean.bias"] = db2;
        (var dhStd, dw2, db2) = ReferenceOps.LinearBackward(h[n], p["encoder.std.weight"], dLogSigma, batch, f, _lat);
        grads["encoder.std.weight"] = dw2; grads["encoder.std.bias"] = db2;
        d = ReferenceOps.ReluBackward(h[n], dhMean.Select((v, i) => v + dhStd[i]).ToArray());
        for (int i = n - 1; i >= 0; i--)
        {
            var (dIn, dw, db) = ReferenceOps.Conv2dBackward(h[i], p[$"{_convs[i]}.weight"], d, batch, _channels[i], _channels[i + 1], Side(i).H, Side(i).W, _k);
            grads[$"{_convs[i]}.weight"] = dw; grads[$"{_convs[i]}.bias"] = db;
            if (i > 0) d = ReferenceOps.ReluBackward(h[i], dIn);
        }
        return new Result(loss, y, mu, sigma, grads);
    }
}
