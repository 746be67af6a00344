using Vae.Gpu.Devices;

namespace Vae.Gpu.Model;

/// <summary>
/// What a training run allocates on its accelerator, from the shapes alone, so that a run too large for the
/// device is refused before anything is allocated, with the size asked and the size available.
/// </summary>
public static class MemoryEstimate
{
    /// <summary>Test-set batches are this large (the trainer's evaluation).</summary>
    const int EvaluationBatch = 500;

    public static long TrainingBytes(VaeConfig c, int batch, int images)
    {
        int k1 = c.Kernel - 1, h1 = VaeConfig.ImageSide - k1, h2 = c.FeatureSide;
        // Floats per image held by the layers: images, reconstruction and its gradient; each convolution's
        // output and its gradient in encoder and decoder; the zero-padded inputs of the two "full" convolutions;
        // the latent tensors.
        long perImage = 3L * 784 + 4L * c.C1 * h1 * h1 + 4L * c.C2 * h2 * h2
            + (long)c.C2 * (h2 + 2 * k1) * (h2 + 2 * k1) + (long)c.C1 * (h1 + 2 * k1) * (h1 + 2 * k1) + 8L * c.Latent;
        long parameters = 2L * c.Kernel * c.Kernel * (c.C1 + c.C1 * c.C2) + 3L * c.Features * c.Latent + 2L * (c.C1 + c.C2) + 3L * c.Latent + c.Features + 1;
        // Half again for what the layers keep besides (masks, split-K copies of small outputs), as measured
        // against the device's peak in the tests.
        long floats = perImage * Math.Max(batch, EvaluationBatch) * 3 / 2 + 4 * parameters;
        // The data set as bytes, its order, and the split-K / batch-chunk partials (at most a few copies of the largest gradient).
        return 4 * floats + (long)images * (784 + 4) + 4 * 4 * Math.Max((long)c.Features * c.Latent, (long)c.C1 * c.C2 * c.Kernel * c.Kernel * 64);
    }

    /// <summary>
    /// The largest tensors a run at <paramref name="batch"/> holds, named, with their element counts: element
    /// counts, shapes and kernel indices are 32-bit, so none may reach 2^31 (a 140 GB GPU would accept
    /// the bytes of a run that overflows them).
    /// </summary>
    public static IEnumerable<(string Name, long Elements)> LargestTensors(VaeConfig c, int batch)
    {
        long b = Math.Max(batch, EvaluationBatch);
        int k1 = c.Kernel - 1, h1 = VaeConfig.ImageSide - k1, h2 = c.FeatureSide;
        yield return ("the first convolution's output (batch, c1, h1, h1)", b * c.C1 * h1 * h1);
        yield return ("the second convolution's output (batch, c2, h2, h2)", b * c.C2 * h2 * h2);
        yield return ("the decoder's padded input (batch, c2, h2 + 2(k-1), h2 + 2(k-1))", b * c.C2 * (h2 + 2L * k1) * (h2 + 2L * k1));
        yield return ("the decoder's second padded input (batch, c1, h1 + 2(k-1), h1 + 2(k-1))", b * c.C1 * (h1 + 2L * k1) * (h1 + 2L * k1));
        yield return ("the linear heads' weight (2 latent, c2 h2 h2)", 2L * c.Latent * c.Features);
        yield return ("the second convolution's weight (c2, c1, k, k)", (long)c.C2 * c.C1 * c.Kernel * c.Kernel);
    }

    /// <summary>Throws a <see cref="VaeException"/> naming the tensor when one would reach 2^31 elements, and
    /// with both sizes when the run cannot fit on the device.</summary>
    public static void EnsureFits(ComputeDevice device, VaeConfig config, int batch, int images)
    {
        foreach (var (name, elements) in LargestTensors(config, batch))
            if (elements > int.MaxValue)
                throw new VaeException(
                    $"a run with «BatchSize» {batch} «C1» {config.C1} «C2» {config.C2} «Latent» {config.Latent} «Kernel» {config.Kernel} would hold {name} of {elements:N0} elements, more than the 2^31 - 1 a tensor may have; use a smaller «BatchSize» or model");
        long needed = TrainingBytes(config, batch, images), available = device.AvailableBytes;
        if (needed > available)
            throw new VaeException(
                $"a run with «BatchSize» {batch} needs about {Gib(needed)} GiB on {device.Name} but {Gib(available)} GiB are available; use a smaller «BatchSize»");
    }

    static string Gib(long bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
}
