using Vae.Gpu.Devices;
using Vae.Gpu.Model;

namespace Vae.Gpu.Training;

/// <summary>The options of <c>vae-gpu train</c>. Model sizes left null come from the defaults, or from the checkpoint when resuming.</summary>
public sealed record TrainOptions
{
    public required string OutDir { get; init; }
    public string? DataDir { get; init; }
    public AcceleratorChoice Accelerator { get; init; } = AcceleratorChoice.Auto;
    public int Epochs { get; init; } = 15;
    public int BatchSize { get; init; } = 128;
    public int? C1 { get; init; }
    public int? C2 { get; init; }
    public int? Latent { get; init; }
    public int? Kernel { get; init; }
    /// <summary>The conv layers' output channels (the notebook's model); null for the problem set's (c1, c2).</summary>
    public IReadOnlyList<int>? Channels { get; init; }
    /// <summary>The KL term's weight in training (beta); null: 1, or the run's when resuming.</summary>
    public float? Beta { get; init; }
    /// <summary>The share of the images held out for testing where the data has no official split.</summary>
    public double? TestFraction { get; init; }
    /// <summary>Labels of an .npy image array.</summary>
    public string? LabelsPath { get; init; }
    public string? Kl { get; init; }
    public float LearningRate { get; init; } = 1e-3f;
    public int Seed { get; init; }
    public int? MaxBatches { get; init; }
    public string? ResumeDir { get; init; }
    /// <summary>Start a new run in an <see cref="OutDir"/> that already holds one.</summary>
    public bool Overwrite { get; init; }
    /// <summary>Never tune before training (an accelerator without a measured profile then uses its estimated defaults).</summary>
    public bool NoTune { get; init; }
    /// <summary>Work that follows training (the analysis of <c>run</c>), in training images' worth, so progress can show the time left for the whole run.</summary>
    public double AfterTraining { get; init; }
    /// <summary>The parameters the user gave, by name (<c>nameof(BatchSize)</c>); null in code, where a value other than the default counts as given.</summary>
    public IReadOnlySet<string>? Explicit { get; init; }
    /// <summary>The device's ring of batch losses; tests shrink it so that an epoch wraps it in a few hundred batches.</summary>
    internal int LossSlots { get; init; } = Vae.Gpu.Model.VAE.DefaultLossCapacity;

    /// <summary>Checks what does not depend on a checkpoint; throws <see cref="VaeException"/> naming the parameter.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(OutDir)) throw new VaeException("«OutDir» is empty; give the folder to write the run to");
        if (ResumeDir is not null && string.IsNullOrWhiteSpace(ResumeDir)) throw new VaeException("«ResumeDir» is empty; give the folder of the run to continue");
        if (Epochs < 1 || Epochs > 10_000) throw new VaeException($"«Epochs» {Epochs} is out of range; use 1..10000");
        if (BatchSize < 1 || BatchSize > 60_000) throw new VaeException($"«BatchSize» {BatchSize} is out of range; use 1..60000 (the training set has 60,000 images)");
        if (!(LearningRate > 0) || LearningRate > 10 || float.IsNaN(LearningRate)) throw new VaeException($"«LearningRate» {LearningRate} is out of range; use a positive number such as 1e-3");
        if (MaxBatches is < 1) throw new VaeException($"«MaxBatches» {MaxBatches} must be at least 1");
        if (Seed < 0) throw new VaeException($"«Seed» {Seed} must be 0 or more");
        if (Beta is float beta && !(float.IsFinite(beta) && beta >= 0))
            throw new VaeException($"«Beta» {beta} must be a finite number of at least 0 (1 is the plain VAE)");
        if (TestFraction is double f) new Data.DataOptions(TestFraction: f).Validate();
        if (Channels is not null && C1 is not null | C2 is not null)
            throw new VaeException("«Channels» and «C1»/«C2» both define the conv layers; give one of them");
        // The image's size comes from the data: only the model's own sizes are checked here.
        Config(null).ForImages(1, 4096, 4096).Validate();
    }

    /// <summary>The model's hyperparameters: the options, over the checkpoint's, over the defaults; a conflict with the checkpoint is an error.</summary>
    public VaeConfig Config(VaeConfig? fromCheckpoint)
    {
        var d = fromCheckpoint ?? new VaeConfig();
        void Same(string name, int? asked, int has)
        {
            if (fromCheckpoint is not null && asked is int a && a != has)
                throw new VaeException($"{name} {a} disagrees with the checkpoint being resumed ({name} {has}); drop {name} or start a new run");
        }
        if (!d.NotebookNames) { Same("«C1»", C1, d.C1); Same("«C2»", C2, d.C2); }
        Same("«Latent»", Latent, d.Latent); Same("«Kernel»", Kernel, d.Kernel);
        if (fromCheckpoint is not null && Channels is not null && !(d.NotebookNames && Channels.SequenceEqual(d.ConvChannels)))
            throw new VaeException($"«Channels» {string.Join(",", Channels)} disagrees with the checkpoint being resumed ({d.Describe()}); drop «Channels» or start a new run");
        if (fromCheckpoint is not null && d.NotebookNames && (C1 is not null || C2 is not null))
            throw new VaeException($"«C1»/«C2» disagree with the checkpoint being resumed ({d.Describe()}); drop them or start a new run");
        var kl = Kl is null ? d.Kl : VaeConfig.ParseKl(Kl);
        if (fromCheckpoint is not null && kl != d.Kl)
            throw new VaeException($"«Kl» {Kl} disagrees with the checkpoint being resumed («Kl» {VaeConfig.KlName(d.Kl)})");
        if (fromCheckpoint is not null) return d;
        return Channels is not null
            ? VaeConfig.FromChannels(Channels, Latent ?? d.Latent, Kernel ?? d.Kernel, kl)
            : new VaeConfig(C1 ?? d.C1, C2 ?? d.C2, Latent ?? d.Latent, Kernel ?? d.Kernel, kl);
    }
}
