namespace Vae.Gpu.Kernels.Reference;

/// <summary>
/// The oracle: plain double-precision loops written straight from each layer's definition (PyTorch's
/// Conv2d, ConvTranspose2d as a scatter, Linear), sharing no code or trick with the kernels. Arrays are
/// row-major in the shapes given in the comments; backward methods return gradients of a scalar loss
/// given the gradient of the output.
/// </summary>
public static class ReferenceOps
{
    // x (B, I, H, W), w (O, I, K, K), bias (O) -> (B, O, H-K+1, W-K+1)
    public static double[] Conv2d(double[] x, double[] w, double[] bias, int batch, int inCh, int outCh, int h, int wd, int k)
    {
        int ho = h - k + 1, wo = wd - k + 1;
        var y = new double[batch * outCh * ho * wo];
        for (int b = 0; b < batch; b++)
            for (int o = 0; o < outCh; o++)
                for (int r = 0; r < ho; r++)
                    for (int c = 0; c < wo; c++)
                    {
                        double s = bias[o];
                        for (int i = 0; i < inCh; i++)
                            for (int u = 0; u < k; u++)
                                for (int v = 0; v < k; v++)
                                    s += x[((b * inCh + i) * h + r + u) * wd + c + v] * w[((o * inCh + i) * k + u) * k + v];
                        y[((b * outCh + o) * ho + r) * wo + c] = s;
                    }
        return y;
    }

    /// <summary>Gradients of Conv2d given dy (B, O, Ho, Wo): dx (B, I, H, W), dw (O, I, K, K), dbias (O).</summary>
    public static (double[] dx, double[] dw, double[] db) Conv2dBackward(
        double[] x, double[] w, double[] dy, int batch, int inCh, int outCh, int h, int wd, int k)
    {
        int ho = h - k + 1, wo = wd - k + 1;
        var dx = new double[x.Length]; var dw = new double[w.Length]; var db = new double[outCh];
        for (int b = 0; b < batch; b++)
            for (int o = 0; o < outCh; o++)
                for (int r = 0; r < ho; r++)
                    for (int c = 0; c < wo; c++)
                    {
                        double g = dy[((b * outCh + o) * ho + r) * wo + c];
                        db[o] += g;
                        for (int i = 0; i < inCh; i++)
                            for (int u = 0; u < k; u++)
                                for (int v = 0; v < k; v++)
                                {
                                    int xi = ((b * inCh + i) * h + r + u) * wd + c + v, wi = ((o * inCh + i) * k + u) * k + v;
                                    dx[xi] += g * w[wi];
                                    dw[wi] += g * x[xi];
                                }
                    }
        return (dx, dw, db);
    }

    // x (B, I, H, W), w (I, O, K, K) (PyTorch's ConvTranspose2d layout), bias (O) -> (B, O, H+K-1, W+K-1)
    public static double[] ConvTranspose2d(double[] x, double[] w, double[] bias, int batch, int inCh, int outCh, int h, int wd, int k)
    {
        int ho = h + k - 1, wo = wd + k - 1;
        var y = new double[batch * outCh * ho * wo];
        for (int b = 0; b < batch; b++)
            for (int o = 0; o < outCh; o++)
                for (int p = 0; p < ho * wo; p++) y[(b * outCh + o) * ho * wo + p] = bias[o];
        // Each input pixel scatters a K x K patch of its weights into the output.
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < inCh; i++)
                for (int r = 0; r < h; r++)
                    for (int c = 0; c < wd; c++)
                    {
                        double xv = x[((b * inCh + i) * h + r) * wd + c];
                        for (int o = 0; o < outCh; o++)
                            for (int u = 0; u < k; u++)
                                for (int v = 0; v < k; v++)
                                    y[((b * outCh + o) * ho + r + u) * wo + c + v] += xv * w[((i * outCh + o) * k + u) * k + v];
                    }
        return y;
    }

    public static (double[] dx, double[] dw, double[] db) ConvTranspose2dBackward(
        double[] x, double[] w, double[] dy, int batch, int inCh, int outCh, int h, int wd, int k)
    {
        int ho = h + k - 1, wo = wd + k - 1;
        var dx = new double[x.Length]; var dw = new double[w.Length]; var db = new double[outCh];
        for (int b = 0; b < batch; b++)
            for (int o = 0; o < outCh; o++)
                for (int p = 0; p < ho * wo; p++) db[o] += dy[(b * outCh + o) * ho * wo + p];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < inCh; i++)
                for (int r = 0; r < h; r++)
                    for (int c = 0; c < wd; c++)
                    {
                        int xi = ((b * inCh + i) * h + r) * wd + c;
                        for (int o = 0; o < outCh; o++)
                            for (int u = 0; u < k; u++)
                                for (int v = 0; v < k; v++)
                                {
                                    double g = dy[((b * outCh + o) * ho + r + u) * wo + c + v];
                                    int wi = ((i * outCh + o) * k + u) * k + v;
                                    dx[xi] += g * w[wi];
                                    dw[wi] += g * x[xi];
                                }
                    }
        return (dx, dw, db);
    }

    // x (B, In), w (Out, In), bias (Out) -> (B, Out) = x w^T + bias
    public static double[] Linear(double[] x, double[] w, double[] bias, int batch, int inF, int outF)
    {
        var y = new double[batch * outF];
        for (int b = 0; b < batch; b++)
            for (int o = 0; o < outF; o++)
            {
                double s = bias[o];
                for (int i = 0; i < inF; i++) s += x[b * inF + i] * w[o * inF + i];
                y[b * outF + o] = s;
            }
        return y;
    }

    public static (double[] dx, double[] dw, double[] db) LinearBackward(double[] x, double[] w, double[] dy, int batch, int inF, int outF)
    {
        var dx = new double[x.Length]; var dw = new double[w.Length]; var db = new double[outF];
        for (int b = 0; b < batch; b++)
            for (int o = 0; o < outF; o++)
            {
                double g = dy[b * outF + o];
                db[o] += g;
                for (int i = 0; i < inF; i++)
                {
                    dx[b * inF + i] += g * w[o * inF + i];
                    dw[o * inF + i] += g * x[b * inF + i];
                }
            }
        return (dx, dw, db);
    }

    public static double[] Relu(double[] x) => x.Select(v => v > 0 ? v : 0).ToArray();
    public static double[] ReluBackward(double[] y, double[] dy) => y.Select((v, i) => v > 0 ? dy[i] : 0).ToArray();
    /// <summary>The encoder heads' output layout (B, 2 lat): each row mu's lat values, then log sigma's.</summary>
    public static double[] HeadsLayout(double[] mu, double[] logSigma, int latent) =>
        Enumerable.Range(0, 2 * mu.Length).Select(i =>
        {
            int row = i / (2 * latent), col = i % (2 * latent);
            return col < latent ? mu[row * latent + col] : logSigma[row * latent + col - latent];
        }).ToArray();

    public static double[] Sigmoid(double[] x) => x.Select(v => 1 / (1 + Math.Exp(-v))).ToArray();
    public static double[] SigmoidBackward(double[] y, double[] dy) => y.Select((v, i) => dy[i] * v * (1 - v)).ToArray();
    public static double[] Exp(double[] x) => x.Select(Math.Exp).ToArray();

    public const double LogGuard = 1e-9;

    /// <summary>-sum(x log(y + 1e-9) + (1 - x) log(1 - y + 1e-9)), x the target, y the reconstruction.</summary>
    public static double BinaryCrossEntropy(double[] x, double[] y)
    {
        double s = 0;
        for (int i = 0; i < x.Length; i++)
            s -= x[i] * Math.Log(y[i] + LogGuard) + (1 - x[i]) * Math.Log(1 - y[i] + LogGuard);
        return s;
    }

    public static double[] BinaryCrossEntropyGrad(double[] x, double[] y) =>
        x.Select((xi, i) => -(xi / (y[i] + LogGuard) - (1 - xi) / (1 - y[i] + LogGuard))).ToArray();

    public static double Kl(double[] mu, double[] sigma, KlKind kind)
    {
        double s = 0;
        for (int i = 0; i < mu.Length; i++)
            s += kind == KlKind.Seed
                ? mu[i] * mu[i] + sigma[i] * sigma[i] - Math.Log(sigma[i]) - 0.5
                : 0.5 * (mu[i] * mu[i] + sigma[i] * sigma[i] - 1) - Math.Log(sigma[i]);
        return s;
    }

    public static (double[] dMu, double[] dSigma) KlGrad(double[] mu, double[] sigma, KlKind kind) => kind == KlKind.Seed
        ? (mu.Select(m => 2 * m).ToArray(), sigma.Select(s => 2 * s - 1 / s).ToArray())
        : (mu.ToArray(), sigma.Select(s => s - 1 / s).ToArray());

    /// <summary>
    /// One importance weight's log, log p(x|z) + log N(z; 0, v I) - log N(z; mu, sigma^2), from the densities
    /// written out in full (the 2 pi terms cancel), with z = mu + sigma eps.
    /// </summary>
    public static double ImportanceLogWeight(double[] x, double[] y, double[] mu, double[] sigma, double[] eps, double priorVariance)
    {
        double logPrior = 0, logPosterior = 0;
        for (int d = 0; d < mu.Length; d++)
        {
            double z = mu[d] + sigma[d] * eps[d];
            logPrior += -0.5 * Math.Log(2 * Math.PI * priorVariance) - z * z / (2 * priorVariance);
            logPosterior += -0.5 * Math.Log(2 * Math.PI * sigma[d] * sigma[d]) - (z - mu[d]) * (z - mu[d]) / (2 * sigma[d] * sigma[d]);
        }
        return -BinaryCrossEntropy(x, y) + logPrior - logPosterior;
    }

    /// <summary>log((1/k) sum exp(w)), with the largest term factored out.</summary>
    public static double LogMeanExp(IReadOnlyList<double> w)
    {
        double max = w.Max();
        return max + Math.Log(w.Sum(v => Math.Exp(v - max)) / w.Count);
    }

    /// <summary>Philox4x32-10's first two words, written from the paper's round function.</summary>
    public static (uint, uint) PhiloxBits(ulong seed, ulong step, uint index)
    {
        uint[] ctr = { index, (uint)step, (uint)(step >> 32), 0 };
        uint[] key = { (uint)seed, (uint)(seed >> 32) };
        for (int round = 0; round < 10; round++)
        {
            ulong prod0 = 0xD2511F53UL * ctr[0], prod1 = 0xCD9E8D57UL * ctr[2];
            ctr = new[] { (uint)(prod1 >> 32) ^ ctr[1] ^ key[0], (uint)prod1, (uint)(prod0 >> 32) ^ ctr[3] ^ key[1], (uint)prod0 };
            key[0] = unchecked(key[0] + 0x9E3779B9); key[1] = unchecked(key[1] + 0xBB67AE85);
        }
        return (ctr[0], ctr[1]);
    }

    public static double Normal(ulong seed, ulong step, uint index)
    {
        var (r0, r1) = PhiloxBits(seed, step, index);
        double u1 = ((r0 >> 8) + 1) / 16777216.0, u2 = (r1 >> 8) / 16777216.0;
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>PyTorch's Adam for one step t (1-based); updates p, m, v in place.</summary>
    public static void Adam(double[] p, double[] g, double[] m, double[] v, long t, double lr, double b1, double b2, double eps)
    {
        for (int i = 0; i < p.Length; i++)
        {
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            double mHat = m[i] / (1 - Math.Pow(b1, t)), vHat = v[i] / (1 - Math.Pow(b2, t));
            p[i] -= lr * mHat / (Math.Sqrt(vHat) + eps);
        }
    }
}
