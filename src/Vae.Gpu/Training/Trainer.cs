using System.Diagnostics;
using System.Text.Json;
using Vae.Gpu.Data;
using Vae.Gpu.Devices;
using Vae.Gpu.Tuning;
using Vae.Gpu.Model;
using Vae.Gpu.Optim;

namespace Vae.Gpu.Training;

/// <summary>
/// The problem set's training loop: per epoch a seeded shuffle; per batch forward, backward (which sets every
/// gradient, so no zero_grad pass is needed), step; then the test loss. After each epoch metrics.json and the checkpoint are written atomically.
/// A NaN or infinite loss stops the run before anything is saved; cancellation finishes the batch,
/// saves the weights and Adam's state reached, and returns.
/// </summary>
public sealed class Trainer
{
    TrainOptions _o;
    readonly ITrainingObserver _ui;

    public Trainer(TrainOptions options, ITrainingObserver observer)
    {
        _o = options;
        _ui = observer;
    }

    public sealed record Result(Metrics Metrics, bool Cancelled, string OutDir);

    /// <summary>
    /// Runs the training; <paramref name="device"/> may be given by a caller that owns one (tests, the benchmark).
    /// The output folder is locked while it runs. Resuming continues with the run's own batch size, learning
    /// rate, epoch length and seed; an option that contradicts them is refused.
    /// </summary>
    public Result Run(CancellationToken cancel = default, ComputeDevice? device = null, (Split Train, Split Test)? data = null)
    {
        _o.Validate();
        string outDir = Path.GetFullPath(_o.OutDir);
        bool created = !Directory.Exists(outDir);
        RunLock? writing = null;
        try
        {
            // The output folder is locked first and only then checked: a writer that started earlier cannot
            // pass the same checks and then replace what this one wrote. An interrupted save in it is finished.
            RunFolder.EnsureWritable(outDir);
            RunJournal.HoldPoint("before lock");
            writing = RunLock.Acquire(outDir);
            RunJournal.Recover(outDir);
            // Every file an epoch's save writes must be writable before the first batch, not after it.
            foreach (var file in new[] { Checkpoint.ModelPath(outDir), Path.Combine(outDir, Checkpoint.OptimizerFile), Path.Combine(outDir, Metrics.FileName) })
                if (Directory.Exists(file))
                    throw new VaeException($"{file} is a folder where each epoch saves a file; move it away and run again");
            bool resumingInPlace = _o.ResumeDir is not null && Path.GetFullPath(_o.ResumeDir) == outDir;
            if (!resumingInPlace && !_o.Overwrite && File.Exists(Checkpoint.ModelPath(outDir)))
                throw new VaeException($"{_o.OutDir} already holds a run; continue it with «ResumeDir» {_o.OutDir}, start over with «Overwrite», or choose another «OutDir»");
            // The run resumed from is only read (it may sit on read-only storage): one committed save, model,
            // optimizer state and metrics together, even while another writer saves into it.
            var (resume, history) = _o.ResumeDir is null ? (null, null) : Checkpoint.ReadSave(_o.ResumeDir, forResume: true);
            var model = _o.Config(resume?.Config);
            _o = FollowRun(resume, history);
            int startEpoch = resume?.Epoch ?? 0;
            if (startEpoch >= _o.Epochs)
                throw new VaeException($"the checkpoint in {_o.ResumeDir} has already trained {startEpoch} epochs; ask for more with «Epochs» N (N > {startEpoch})");
            var (trainSplit, testSplit) = data ?? LoadData();
            if (resume is not null && (trainSplit.Channels, trainSplit.Height, trainSplit.Width) != (model.ImageChannels, model.Height, model.Width))
                throw new VaeException(
                    $"the data holds {trainSplit.Channels}x{trainSplit.Height}x{trainSplit.Width} images (channels x height x width) but the run in {_o.ResumeDir} " +
                    $"trained on {model.ImageChannels}x{model.Height}x{model.Width}; resume with the data it trained on");
            var config = model.ForImages(trainSplit.Channels, trainSplit.Height, trainSplit.Width).Validate();

            var own = device is null ? ComputeDevice.Create(_o.Accelerator) : null;
            var dev = device ?? own!;
            try
            {
                MemoryEstimate.EnsureFits(dev, config, _o.BatchSize, trainSplit.Count + testSplit.Count);
                return Train(dev, config, resume, history, startEpoch, trainSplit, testSplit, cancel);
            }
            finally
            {
                own?.Dispose();
            }
        }
        finally
        {
            writing?.Dispose();
            // A run refused before it saved anything leaves no folder behind.
            if (created) RunFolder.RemoveIfUnused(outDir);
        }
    }

    /// <summary>The data of <see cref="TrainOptions.DataDir"/> (Fashion-MNIST when none), held out by the run's seed.</summary>
    (Split, Split) LoadData()
    {
        var set = DataSource.Load(DataOptions(), _ui.Log);
        return (set.Train, set.Test);
    }

    DataOptions DataOptions() => new(_o.DataDir, _o.TestFraction ?? Data.DataOptions.DefaultTestFraction, _o.Seed, _o.LabelsPath);

    Result Train(ComputeDevice dev, VaeConfig config, Checkpoint? resume, Metrics? history,
        int startEpoch, Split trainSplit, Split testSplit, CancellationToken cancel)
    {
        int seed = _o.Seed;
        var settings = new TrainingSettings(_o.BatchSize, _o.LearningRate, _o.MaxBatches);
        foreach (var note in dev.Notes) _ui.Log(note);
        _ui.Log($"Accelerator: {dev.Name}");
        Tuner.Apply(dev, config, _o.BatchSize, allowTuning: !_o.NoTune, _ui.Log);
        string runId = resume?.RunId ?? Guid.NewGuid().ToString("N");
        using var vae = resume?.CreateModel(dev, _o.LossSlots) ?? new Vae.Gpu.Model.VAE(dev, config, seed, _o.LossSlots);
        vae.KlWeight = _o.Beta ?? 1f;
        using var adam = new Adam(vae.Parameters, _o.LearningRate);
        resume?.Restore(vae, adam);
        using var train = new DeviceDataset(dev, trainSplit);
        using var test = new DeviceDataset(dev, testSplit);

        var metrics = history ?? new Metrics();
        metrics.Accelerator = dev.Name;
        metrics.Config = ConfigJson(config, seed, _o);
        metrics.Epochs.RemoveAll(e => e.Epoch > startEpoch);
        if (resume is not null) _ui.Log($"Resuming from {_o.ResumeDir} after epoch {startEpoch} (batch {_o.BatchSize}, lr {_o.LearningRate}, seed {seed}, as the run was trained)");

        var clock = new RunClock(_o.Epochs, _o.BatchSize, TestImages(test), _o.AfterTraining);
        for (int epoch = startEpoch + 1; epoch <= _o.Epochs; epoch++)
        {
            var epochWatch = Stopwatch.StartNew();
            var (m, cancelled) = TrainEpoch(vae, adam, train, test, epoch, seed, clock, cancel);
            if (cancelled)
            {
                Checkpoint.Save(_o.OutDir, vae, adam, epoch - 1, seed, runId, settings, metrics);
                _ui.Log($"Stopped during epoch {epoch}: saved the weights reached to {_o.OutDir}; training again with «ResumeDir» {_o.OutDir} repeats epoch {epoch} from them");
                return new Result(metrics, true, _o.OutDir);
            }
            m.Accelerator = dev.Name;
            metrics.Epochs.Add(m);
            Checkpoint.Save(_o.OutDir, vae, adam, epoch, seed, runId, settings, metrics);
            clock.EpochDone(epochWatch.Elapsed.TotalSeconds);
            _ui.EpochDone(m, _o.Epochs);
            // A stop asked for during the epoch's last batch, its test pass or its save: the epoch is whole and
            // saved, so stop here (with one batch an epoch, every batch is the last).
            if (cancel.IsCancellationRequested)
            {
                _ui.Log($"Stopped after epoch {epoch}: saved it to {_o.OutDir}; training again with «ResumeDir» {_o.OutDir} continues with epoch {epoch + 1}");
                return new Result(metrics, true, _o.OutDir);
            }
        }
        return new Result(metrics, false, _o.OutDir);
    }

    static readonly TrainOptions Defaults = new() { OutDir = "" };

    /// <summary>
    /// The options to train with: on a resume, the run's own seed, batch size, learning rate and epoch length
    /// (older checkpoints without them keep the options); an option the user gave that contradicts them is refused.
    /// </summary>
    TrainOptions FollowRun(Checkpoint? resume, Metrics? history)
    {
        if (resume is null) return _o;
        var run = resume.Optimizer?.Settings;
        var data = history?.Data();
        return _o with
        {
            Beta = history is null ? _o.Beta : Agree(nameof(TrainOptions.Beta), _o.Beta ?? 1f, (float)history.Beta, _o.Beta is not null),
            DataDir = data is null ? _o.DataDir : _o.DataDir ?? data.Path,
            TestFraction = data is null ? _o.TestFraction : Agree(nameof(TrainOptions.TestFraction), _o.TestFraction ?? data.TestFraction, data.TestFraction, _o.TestFraction is not null),
            LabelsPath = data is null || _o.DataDir is not null ? _o.LabelsPath : data.LabelsPath,
            Seed = Agree(nameof(TrainOptions.Seed), _o.Seed, resume.Seed, _o.Seed != Defaults.Seed),
            BatchSize = run is null ? _o.BatchSize : Agree(nameof(TrainOptions.BatchSize), _o.BatchSize, run.BatchSize, _o.BatchSize != Defaults.BatchSize),
            LearningRate = run is null ? _o.LearningRate : Agree(nameof(TrainOptions.LearningRate), _o.LearningRate, run.LearningRate, _o.LearningRate != Defaults.LearningRate),
            MaxBatches = run is null ? _o.MaxBatches : Agree(nameof(TrainOptions.MaxBatches), _o.MaxBatches, run.MaxBatches, _o.MaxBatches is not null),
        };
    }

    /// <summary>The run's value, unless the user gave a different one (from the command line; in code, a value other than the default).</summary>
    T Agree<T>(string parameter, T asked, T run, bool differsFromDefault)
    {
        bool given = _o.Explicit?.Contains(parameter) ?? differsFromDefault;
        string p = $"«{parameter}»";
        if (given && !EqualityComparer<T>.Default.Equals(asked, run))
            throw new VaeException($"{p} {asked?.ToString() ?? "(none)"} disagrees with the run being resumed ({p} {run?.ToString() ?? "(none)"}); drop {p} to continue it as it was trained, or start a new run");
        return run;
    }

    (EpochMetrics, bool Cancelled) TrainEpoch(Vae.Gpu.Model.VAE vae, Adam adam, DeviceDataset train, DeviceDataset test, int epoch, int seed, RunClock clock, CancellationToken cancel)
    {
        var device = vae.Device;
        // Reading the loss waits for the device, so a GPU reads a block of batch losses now and then.
        int readEvery = device.Profile.LossReadInterval;
        int capacity = vae.LossCapacity;
        train.Shuffle(seed, epoch);
        int batches = Math.Min(train.BatchCount(_o.BatchSize), _o.MaxBatches ?? int.MaxValue);
        var watch = Stopwatch.StartNew();
        double lossSum = 0;
        int images = 0, read = 0;
        for (int b = 0; b < batches; b++)
        {
            var x = train.Batch(b, _o.BatchSize);
            // No ZeroGrad: Backward sets every gradient (tested with poisoned gradients), so zeroing would be a pass for nothing.
            vae.LossSlot = b % capacity;
            vae.Forward(x);
            vae.Backward();
            adam.Step();
            images += x.Shape[0];
            bool last = b == batches - 1;
            // The slots are a ring: read before it wraps, so a block of slots is never split (an epoch may
            // have more batches than slots: --batch 14 or less).
            if ((b + 1) % readEvery == 0 || (b + 1) % capacity == 0 || last || cancel.IsCancellationRequested)
            {
                lossSum += ReadLosses(vae, read, b + 1, epoch);
                read = b + 1;
                double rate = images / watch.Elapsed.TotalSeconds;
                _ui.Batch(epoch, _o.Epochs, b + 1, batches, lossSum / images, rate, clock.Left(epoch, b + 1, batches, rate));
            }
            if (cancel.IsCancellationRequested && !last) return (new EpochMetrics(), true);
        }
        double seconds = watch.Elapsed.TotalSeconds;
        _ui.Log($"  epoch {epoch}/{_o.Epochs}: test loss over {TestImages(test):N0} test images ({seconds:F0} s of training, {images / seconds:F1} images/s)");
        var (testLoss, testImages) = Evaluate(vae, test, _o.MaxBatches);
        if (!double.IsFinite(testLoss))
            throw new VaeException(
                $"the test loss became {testLoss} after epoch {epoch}; stopped without saving, so the last good checkpoint in {_o.OutDir} (if any) is intact; {Advice}");
        return (new EpochMetrics
        {
            Epoch = epoch, TrainLoss = lossSum / images, TestLoss = testLoss, ImagesPerSecond = images / seconds,
            Seconds = seconds, TrainImages = images, TestImages = testImages,
        }, false);
    }

    /// <summary>What to try after a loss stops being finite: a resume keeps the run's learning rate, so it cannot change it.</summary>
    string Advice => _o.ResumeDir is null
        ? $"try a smaller «LearningRate» than {_o.LearningRate}"
        : $"the resumed run keeps its «LearningRate» {_o.LearningRate}: start a new run with a smaller «LearningRate», or resume an earlier checkpoint";

    /// <summary>
    /// Sums the losses of batches [from, to), which lie in one unwrapped run of slots; a NaN or infinity
    /// stops the run, naming epoch and batch.
    /// </summary>
    double ReadLosses(Vae.Gpu.Model.VAE vae, int from, int to, int epoch)
    {
        double sum = 0;
        int first = from % vae.LossCapacity;
        if (first + (to - from) > vae.LossCapacity)
            throw new InvalidOperationException($"loss slots {from}..{to} wrap the ring of {vae.LossCapacity}");
        var losses = vae.LossTotals.Slice(first, to - from).ToArray();
        for (int i = 0; i < losses.Length; i++)
        {
            if (!float.IsFinite(losses[i]))
                throw new VaeException(
                    $"the loss became {losses[i]} at epoch {epoch}, batch {from + i + 1}; stopped without saving, so the last good checkpoint in {_o.OutDir} " +
                    $"(if any) is intact; {Advice}");
            sum += losses[i];
        }
        return sum;
    }

    /// <summary>The test images each epoch's test loss reads: all, or the first --max-batches batches of <see cref="TestBatch"/>.</summary>
    int TestImages(DeviceDataset test) => Math.Min(test.Count, Math.Min(test.BatchCount(TestBatch), _o.MaxBatches ?? int.MaxValue) * TestBatch);

    const int TestBatch = 500;

    /// <summary>Mean loss per image over the test set (or its first <paramref name="maxBatches"/> batches), file order.</summary>
    public static (double LossPerImage, int Images) Evaluate(Vae.Gpu.Model.VAE vae, DeviceDataset test, int? maxBatches, int batchSize = TestBatch)
    {
        test.InFileOrder();
        int batches = Math.Min(test.BatchCount(batchSize), maxBatches ?? int.MaxValue), images = 0;
        double sum = 0;
        int capacity = vae.LossCapacity;
        for (int b = 0; b < batches; b++)
        {
            var x = test.Batch(b, batchSize);
            vae.LossSlot = b % capacity;
            vae.Forward(x);
            images += x.Shape[0];
            if ((b + 1) % capacity == 0 || b == batches - 1)
                foreach (var l in vae.LossTotals.Slice(0, b % capacity + 1).ToArray()) sum += l;
        }
        return (sum / images, images);
    }

    static Dictionary<string, JsonElement> ConfigFields(VaeConfig c, int seed, TrainOptions o) => new()
    {
        ["epochs"] = JsonSerializer.SerializeToElement(o.Epochs),
        ["batch"] = JsonSerializer.SerializeToElement(o.BatchSize),
        ["lr"] = JsonSerializer.SerializeToElement(o.LearningRate),
        ["max_batches"] = JsonSerializer.SerializeToElement(o.MaxBatches),
        ["latent"] = JsonSerializer.SerializeToElement(c.Latent),
        ["kernel"] = JsonSerializer.SerializeToElement(c.Kernel),
        ["kl"] = JsonSerializer.SerializeToElement(VaeConfig.KlName(c.Kl)),
        ["seed"] = JsonSerializer.SerializeToElement(seed),
        ["image_channels"] = JsonSerializer.SerializeToElement(c.ImageChannels),
        ["height"] = JsonSerializer.SerializeToElement(c.Height),
        ["width"] = JsonSerializer.SerializeToElement(c.Width),
        ["beta"] = JsonSerializer.SerializeToElement(o.Beta ?? 1f),
        ["data"] = JsonSerializer.SerializeToElement(o.DataDir is null ? null : Path.GetFullPath(o.DataDir)),
        ["test_fraction"] = JsonSerializer.SerializeToElement(o.TestFraction ?? Data.DataOptions.DefaultTestFraction),
        ["labels"] = JsonSerializer.SerializeToElement(o.LabelsPath is null ? null : Path.GetFullPath(o.LabelsPath)),
    };

    static Dictionary<string, JsonElement> ConfigJson(VaeConfig c, int seed, TrainOptions o)
    {
        var json = ConfigFields(c, seed, o);
        // The problem set's model records c1 and c2; the notebook's its channel list.
        if (c.NotebookNames) json["channels"] = JsonSerializer.SerializeToElement(c.ConvChannels);
        else { json["c1"] = JsonSerializer.SerializeToElement(c.C1); json["c2"] = JsonSerializer.SerializeToElement(c.C2); }
        return json;
    }
}
