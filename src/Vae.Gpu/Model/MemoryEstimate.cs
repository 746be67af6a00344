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
        var channels = c.AllChannels;
        int k1 = c.Kernel - 1;
        // Floats per image held by the layers: images, reconstruction and its gradient; each convolution's
        // output and its gradient in encoder and decoder; the zero-padded inputs of the decoder's "full"
        // convolutions; the latent tensors.
        long perImage = 3L * c.Pixels + 8L * c.Latent;
        for (int i = 1; i <= c.Depth; i++)
        {
            var (h, w) = c.SideAt(i);
            perImage += 4L * channels[i] * h * w + (long)channels[i] * (h + 2 * k1) * (w + 2 * k1);
        }
        long parameters = Encoder.Specs(c).Concat(Decoder.Specs(c)).Sum(spec => spec.Item2.Aggregate(1L, (a, d) => a * d));
        // Half again for what the layers keep besides (masks, split-K copies of small outputs), as measured
        // against the device's peak in the tests.
        long floats = perImage * Math.Max(batch, EvaluationBatch) * 3 / 2 + 4 * parameters;
        // The data set as bytes, its order, and the split-K / batch-chunk partials (at most a few copies of the largest gradient).
        long largestWeight = Enumerable.Range(0, c.Depth).Max(i => (long)channels[i] * channels[i + 1] * c.Kernel * c.Kernel);
        return 4 * floats + (long)images * (c.Pixels + 4) + 4 * 4 * Math.Max((long)c.Features * c.Latent, largestWeight * 64);
    }

    /// <summary>
    /// The largest tensors a run at <paramref name="batch"/> holds, named, with their element counts: element
    /// counts, shapes and kernel indices are 32-bit, so none may reach 2^31 (a 140 GB GPU would accept
    /// the bytes of a run that overflows them).
    /// </summary>
    public static IEnumerable<(string Name, long Elements)> LargestTensors(VaeConfig c, int batch)
    {
        long b = Math.Max(batch, EvaluationBatch);
        var channels = c.AllChannels;
        int k1 = c.Kernel - 1;
        for (int i = 1; i <= c.Depth; i++)
        {
            var (h, w) = c.SideAt(i);
            yield return ($"convolution {i}'s output (batch, {channels[i]}, {h}, {w})", b * channels[i] * h * w);
            yield return ($"the decoder's padded input (batch, {channels[i]}, {h + 2 * k1}, {w + 2 * k1})", b * channels[i] * (h + 2L * k1) * (w + 2L * k1));
            yield return ($"convolution {i}'s weight ({channels[i]}, {channels[i - 1]}, k, k)", (long)channels[i] * channels[i - 1] * c.Kernel * c.Kernel);
        }
        yield return ($"the images (batch, {c.ImageChannels}, {c.Height}, {c.Width})", b * c.Pixels);
        yield return ($"the linear heads' weight (2 latent, {c.Features})", 2L * c.Latent * c.Features);
    }

    /// <summary>Throws a <see cref="VaeException"/> naming the tensor when one would reach 2^31 elements, and
    /// with both sizes when the run cannot fit on the device.</summary>
    public static void EnsureFits(ComputeDevice device, VaeConfig config, int batch, int images)
    {
        foreach (var (name, elements) in LargestTensors(config, batch))
            if (elements > int.MaxValue)
                throw new VaeException(
                    $"a run with «BatchSize» {batch} and the model {config.Describe()} would hold {name} of {elements:N0} elements, more than the 2^31 - 1 a tensor may have; use a smaller «BatchSize» or model");
        long needed = TrainingBytes(config, batch, images), available = device.AvailableBytes;
        if (needed > available)
            throw new VaeException(
                $"a run with «BatchSize» {batch} needs about {Gib(needed)} GiB on {device.Name} but {Gib(available)} GiB are available; use a smaller «BatchSize»");
    }

    static string Gib(long bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
}
