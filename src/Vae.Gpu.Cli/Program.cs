using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Vae.Gpu.Devices;
using Vae.Gpu.Diagnostics;
using Vae.Gpu.Training;
using Vae.Gpu.Tuning;

namespace Vae.Gpu.Cli;

/// <summary>
/// vae-gpu: parses options, calls the library, prints. Every user error is one line on stderr and a
/// non-zero exit code (1 for bad input, 2 for a failed check, 130 for Ctrl-C).
/// </summary>
public static partial class Program
{
    public static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        // No command at all: the overview, as a start for someone exploring.
        var parse = Build().Parse(args.Length == 0 ? new[] { "--help" } : args);
        // A bad option or value is one line naming what is wrong, not the whole help page.
        if (parse.Errors.Count > 0)
        {
            var command = parse.CommandResult.Command;
            string name = command is RootCommand ? "vae-gpu" : $"vae-gpu {command.Name}";
            return Fail($"{string.Join("; ", parse.Errors.Select(e => InWords(e.Message).TrimEnd('.')).Distinct())}; see {name} --help");
        }
        int code = parse.Invoke();
        return args.Length == 0 ? 1 : code;
    }

    /// <summary>A parse error in a user's words: "as expected type 'System.Nullable`1[System.Int32]'" reads "as a whole number".</summary>
    static string InWords(string message) => System.Text.RegularExpressions.Regex.Replace(message, @"as expected type '([^']+)'", m =>
        m.Groups[1].Value switch
        {
            var t when t.Contains("System.Int32") || t.Contains("System.Int64") => "as a whole number",
            var t when t.Contains("System.Single") || t.Contains("System.Double") => "as a number",
            var t when t.Contains("System.Boolean") => "as true or false",
            _ => "as the value it takes",
        });

    static readonly Option<string> AcceleratorOption = new("--accelerator") { Description = "auto | cuda | opencl | cpu (auto prefers CUDA, then OpenCL, then the CPU)", DefaultValueFactory = _ => "auto" };
    static readonly Option<bool> JsonOption = new("--json") { Description = "print one JSON document" };

    public static RootCommand Build()
    {
        var root = new RootCommand("Vae.Gpu: a convolutional VAE on Fashion-MNIST with hand-written ILGPU kernels");
        root.Subcommands.Add(DevicesCommand());
        root.Subcommands.Add(CheckCommand());
        root.Subcommands.Add(TrainCommand());
        root.Subcommands.Add(AnalyzeCommand());
        root.Subcommands.Add(RunCommand());
        root.Subcommands.Add(EvaluateCommand());
        root.Subcommands.Add(BenchCommand());
        root.Subcommands.Add(LabCommand());
        root.Subcommands.Add(TuneCommand());
        root.Subcommands.Add(PtxCommand());
        root.Subcommands.Add(EncodeCommand());
        root.Subcommands.Add(DecodeCommand());
        root.Subcommands.Add(InterpolateCommand());
        root.Subcommands.Add(SampleCommand());
        root.Subcommands.Add(ExportOnnxCommand());
        return root;
    }

    /// <summary>Runs a command body, turning user errors into one line and an exit code.</summary>
    internal static int Guard(Func<int> body)
    {
        try { return body(); }
        catch (VaeException e) { return Fail(e.Render(OptionFor)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return Fail(e.Message); }
        catch (Exception e)
        {
            bool debug;
            try { debug = EnvironmentSwitches.Flag(EnvironmentSwitches.Debug); }
            catch (VaeException) { debug = true; }   // a mistyped switch still asked for the whole exception
            if (debug) Console.Error.WriteLine(e);
            return Fail($"unexpected {e.GetType().Name}: {e.Message} (please report this; {EnvironmentSwitches.Debug}=1 prints the whole exception)");
        }
    }

    /// <summary>The option that sets each library parameter its errors name (<see cref="VaeException"/>'s tokens are the API's names).</summary>
    public static readonly IReadOnlyDictionary<string, string> Options = new Dictionary<string, string>
    {
        ["OutDir"] = "--out", ["ResumeDir"] = "--resume", ["Epochs"] = "--epochs", ["BatchSize"] = "--batch", ["LearningRate"] = "--lr",
        ["MaxBatches"] = "--max-batches", ["Seed"] = "--seed", ["C1"] = "--c1", ["C2"] = "--c2", ["Latent"] = "--latent", ["Kernel"] = "--kernel",
        ["Kl"] = "--kl", ["DataDir"] = "--data", ["Accelerator"] = "--accelerator", ["Samples"] = "--k", ["Images"] = "--images", ["EvaluationImages"] = "--eval-images",
        ["Repeats"] = "--repeats", ["Overwrite"] = "--overwrite", ["NoTune"] = "--no-tune", ["Channels"] = "--channels", ["Beta"] = "--beta",
        ["KlWeight"] = "--beta", ["TestFraction"] = "--test-fraction", ["Labels"] = "--labels", ["Image"] = "--image", ["Steps"] = "--steps", ["Count"] = "--n", ["Shape"] = "--shape", ["Check"] = "--check",
    };

    internal static string OptionFor(string parameter) => Options.TryGetValue(parameter, out var option) ? option : parameter;

    /// <summary>A library log line with its parameters named as this command line names them.</summary>
    internal static string Say(string line) => VaeException.Render(line, OptionFor);

    static void Print(string line) => Console.WriteLine(Say(line));
    static void PrintError(string line) => Console.Error.WriteLine(Say(line));

    static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message.ReplaceLineEndings(" ")}");
        return 1;
    }

    public static AcceleratorChoice ParseAccelerator(string text) => text.ToLowerInvariant() switch
    {
        "auto" => AcceleratorChoice.Auto,
        "cuda" => AcceleratorChoice.Cuda,
        "opencl" => AcceleratorChoice.OpenCL,
        "cpu" => AcceleratorChoice.Cpu,
        _ => throw new VaeException($"--accelerator '{text}' is unknown; use auto, cuda, opencl or cpu"),
    };

    static Command DevicesCommand()
    {
        var cmd = new Command("devices", "list the accelerators this machine offers") { JsonOption };
        cmd.SetAction(p => Guard(() =>
        {
            var devices = ComputeDevice.List();
            if (p.GetValue(JsonOption))
            {
                Console.WriteLine(JsonSerializer.Serialize(devices.Select(d => new
                {
                    type = d.Type, name = d.Name, memory_bytes = d.MemoryBytes, max_group_size = d.MaxGroupSize, multiprocessors = d.Multiprocessors,
                }), new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            foreach (var d in devices)
                Console.WriteLine($"{d.Type,-7} {d.Name}  memory {(d.Type == "cpu" ? "host" : $"{d.MemoryBytes / (1024.0 * 1024 * 1024):F1} GiB")}  max group {d.MaxGroupSize}  multiprocessors {d.Multiprocessors}");
            if (!devices.Any(d => d.Type == "cuda")) Console.WriteLine("(no CUDA device: ILGPU found no NVIDIA driver)");
            if (!devices.Any(d => d.Type == "opencl")) Console.WriteLine("(no OpenCL device that ILGPU 1.5.3 accepts)");
            return 0;
        }));
        return cmd;
    }

    static Command CheckCommand()
    {
        var seedOption = new Option<int?>("--seed") { Description = "seed of the random inputs (default: from the clock)" };
        var cmd = new Command("check", "run every kernel on every accelerator present against the double-precision reference") { seedOption };
        cmd.SetAction(p => Guard(() =>
        {
            int seed = p.GetValue(seedOption) ?? Environment.TickCount & 0x7fffffff;
            bool ok = KernelCheck.RunEveryAccelerator(seed, Console.WriteLine);
            return ok ? 0 : 2;
        }));
        return cmd;
    }

    static Command PtxCommand()
    {
        var ptxasOption = new Option<string?>("--ptxas") { Description = $"NVIDIA's PTX assembler (default: ${EnvironmentSwitches.Ptxas}, the PATH, or scripts/get-ptxas's cache)" };
        var cmd = new Command("ptx", $"compile every kernel to PTX for {PtxAssembly.Architecture} and assemble it with ptxas: registers, shared memory, stack frame and spills per kernel (no GPU needed)")
            { ptxasOption, JsonOption };
        cmd.SetAction(p => Guard(() =>
        {
            string ptxas = p.GetValue(ptxasOption) ?? PtxAssembly.FindPtxas()
                ?? throw new VaeException($"no ptxas found; fetch one with scripts/get-ptxas, or give its path with --ptxas or {EnvironmentSwitches.Ptxas}");
            if (!File.Exists(ptxas)) throw new VaeException($"--ptxas {ptxas} does not exist");
            var kernels = PtxAssembly.AssembleAll(ptxas);
            var problems = PtxAssembly.Problems(kernels).ToList();
            if (p.GetValue(JsonOption))
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    architecture = PtxAssembly.Architecture, summary = PtxAssembly.Summary(kernels), problems,
                    kernels = kernels.Select(k => new
                    {
                        kernel = k.Label, gpu_may_pick = k.GpuMayPick, registers = k.Registers, shared_bytes = k.SharedBytes,
                        stack_bytes = k.StackBytes, spill_store_bytes = k.SpillStoreBytes, spill_load_bytes = k.SpillLoadBytes, error = k.Error,
                    }),
                }, new JsonSerializerOptions { WriteIndented = true }));
            else
            {
                foreach (var line in PtxAssembly.Table(kernels)) Console.WriteLine(line);
                foreach (var problem in problems) Console.WriteLine($"problem: {problem}");
                Console.WriteLine(PtxAssembly.Summary(kernels));
            }
            return problems.Count == 0 ? 0 : 2;
        }));
        return cmd;
    }

    // ---- train ------------------------------------------------------------------------------------

    static readonly Option<string> OutOption = new("--out") { Description = "output folder", Required = true };
    static readonly Option<string?> DataOption = new("--data") { Description = "the images: a folder of IDX files (MNIST's layout), FER2013's .csv (or a folder with train.csv/test.csv), an .npy array (N,H,W[,C]), or a folder of class folders of PNG/JPEG (train/ and test/ inside for an official split) (default: Fashion-MNIST from $FASHION_MNIST_DIR, ./data/FashionMNIST/raw, /usr/share/datasets/fashion-mnist, else downloaded)" };
    static readonly Option<string?> ChannelsOption = new("--channels") { Description = "the conv layers' output channels, e.g. 4,32,64,64,64 (the seed notebook's model and tensor names); instead of --c1/--c2" };
    static readonly Option<float?> BetaOption = new("--beta") { Description = "weight of the KL term in training, >= 0 (1 is the problem set's loss; evaluate always reports the true ELBO) [default: 1, or the resumed run's]" };
    static readonly Option<double?> TestFractionOption = new("--test-fraction") { Description = "share of the images held out for testing where the data has no official split, 0..1 [default: 0.1]" };
    static readonly Option<string?> LabelsOption = new("--labels") { Description = "labels of an .npy image array: a 1-D integer .npy, one per image" };
    static readonly Option<string?> ImageOption = new("--image") { Description = "the images' channels x height x width, e.g. 1x48x48 [default: 1x28x28]" };
    static readonly Option<int> EpochsOption = new("--epochs") { Description = "epochs to train, 1..10000 (the total, when resuming)", DefaultValueFactory = _ => 15 };
    static readonly Option<int> BatchOption = new("--batch") { Description = "images per batch, 1..60000", DefaultValueFactory = _ => 128 };
    static readonly Option<int?> LatentOption = new("--latent") { Description = "latent dimensions, 2..4096 (the analysis plots two) [default: 16, or the resumed run's]" };
    static readonly Option<int?> C1Option = new("--c1") { Description = "channels of the first convolution, 1..1024 [default: 16, or the resumed run's]" };
    static readonly Option<int?> C2Option = new("--c2") { Description = "channels of the second convolution, 1..1024 [default: 32, or the resumed run's]" };
    static readonly Option<int?> KernelOption = new("--kernel") { Description = "kernel size, 1..64 (the convolutions must leave at least 1x1 of the image) [default: 3, or the resumed run's]" };
    static readonly Option<float> LrOption = new("--lr") { Description = "Adam learning rate, > 0 and <= 10", DefaultValueFactory = _ => 1e-3f };
    static readonly Option<int> SeedOption = new("--seed") { Description = "seed of initialization, shuffling and noise, 0..2147483647", DefaultValueFactory = _ => 0 };
    static readonly Option<int?> MaxBatchesOption = new("--max-batches") { Description = "stop each epoch after N >= 1 batches (quick runs); the test loss then uses N test batches of 500 [default: whole epochs]" };
    static readonly Option<string?> KlOption = new("--kl") { Description = "seed (the problem set's KL) | standard (the textbook KL) [default: seed, or the resumed run's]" };
    static readonly Option<string?> ResumeOption = new("--resume") { Description = "continue the run saved in this folder, with Adam's state and its own batch size, learning rate, epoch length and seed" };
    static readonly Option<bool> NoTuneOption = new("--no-tune") { Description = "on an accelerator without a measured profile (CUDA, OpenCL GPUs), do not tune the kernel versions first; use its estimated defaults" };
    static readonly Option<bool> OverwriteOption = new("--overwrite") { Description = "start a new run in an --out folder that already holds one (its checkpoint is replaced at the first save)" };

    static void AddTrainOptions(Command cmd)
    {
        foreach (var o in new Option[] { OutOption, DataOption, AcceleratorOption, EpochsOption, BatchOption, LatentOption, C1Option, C2Option, ChannelsOption, KernelOption, LrOption, SeedOption, MaxBatchesOption, KlOption, BetaOption, TestFractionOption, LabelsOption, ResumeOption, OverwriteOption, NoTuneOption })
            cmd.Options.Add(o);
    }

    static TrainOptions ReadTrainOptions(ParseResult p) => new()
    {
        OutDir = p.GetValue(OutOption)!,
        DataDir = p.GetValue(DataOption),
        Accelerator = ParseAccelerator(p.GetValue(AcceleratorOption)!),
        Epochs = p.GetValue(EpochsOption),
        BatchSize = p.GetValue(BatchOption),
        Latent = p.GetValue(LatentOption),
        C1 = p.GetValue(C1Option),
        C2 = p.GetValue(C2Option),
        Kernel = p.GetValue(KernelOption),
        Channels = p.GetValue(ChannelsOption) is { } channels ? Model.VaeConfig.ParseChannels(channels) : null,
        Beta = p.GetValue(BetaOption),
        TestFraction = p.GetValue(TestFractionOption),
        LabelsPath = p.GetValue(LabelsOption),
        LearningRate = p.GetValue(LrOption),
        Seed = p.GetValue(SeedOption),
        MaxBatches = p.GetValue(MaxBatchesOption),
        Kl = p.GetValue(KlOption),
        ResumeDir = p.GetValue(ResumeOption),
        Overwrite = p.GetValue(OverwriteOption),
        NoTune = p.GetValue(NoTuneOption),
        // Which options were typed: on --resume a typed one must agree with the run, an untyped one follows it.
        Explicit = new (Option Option, string Parameter)[]
            {
                (BatchOption, nameof(TrainOptions.BatchSize)), (LrOption, nameof(TrainOptions.LearningRate)), (SeedOption, nameof(TrainOptions.Seed)),
                (MaxBatchesOption, nameof(TrainOptions.MaxBatches)), (BetaOption, nameof(TrainOptions.Beta)), (TestFractionOption, nameof(TrainOptions.TestFraction)),
            }.Where(o => p.GetResult(o.Option) is { Implicit: false }).Select(o => o.Parameter).ToHashSet(),
    };

    /// <summary>Trains with Ctrl-C wired to a graceful stop; returns 130 when stopped that way.</summary>
    static int Train(TrainOptions options)
    {
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cancel.IsCancellationRequested) return; // a second Ctrl-C ends the process at once
            e.Cancel = true;
            cancel.Cancel();
            Console.Error.WriteLine("stopping after this batch (Ctrl-C again to abort without saving)");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var result = SpectreObserver.Run(ui => new Trainer(options, ui).Run(cancel.Token));
            return result.Cancelled ? 130 : 0;
        }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    static Command TrainCommand()
    {
        var cmd = new Command("train", "train the VAE on Fashion-MNIST; writes DIR/model.safetensors and DIR/metrics.json");
        AddTrainOptions(cmd);
        cmd.SetAction(p => Guard(() => Train(ReadTrainOptions(p))));
        return cmd;
    }

    // ---- analyze / run / bench ---------------------------------------------------------------------

    static readonly Option<string> RunDirOption = new("--run") { Description = "folder of a training run (model.safetensors, metrics.json)", Required = true };

    static readonly Option<int> SamplesOption = new("--k") { Description = $"samples per image of the importance-weighted (IWAE) bound on log p(x), 1..{Analysis.EvaluationOptions.MaxSamples:N0} (1 gives the ELBO)", DefaultValueFactory = _ => Analysis.ModelEvaluation.DefaultSamples };
    const int QuickRunEvalImages = 1_000;
    static readonly Option<int?> EvalImagesOption = new("--eval-images") { Description = $"evaluate (ELBO, IWAE bound, class probe) only the first N test images [default: all 10,000; run with --max-batches: {QuickRunEvalImages:N0}]" };

    static Command AnalyzeCommand()
    {
        var cmd = new Command("analyze", "embed the test set, select the two highest-variance dimensions, write the figures and report, and evaluate the model") { RunDirOption, OutOption, DataOption, AcceleratorOption, SamplesOption, EvalImagesOption };
        cmd.SetAction(p => Guard(() =>
        {
            var evaluation = new Analysis.EvaluationOptions(p.GetValue(SamplesOption), p.GetValue(EvalImagesOption)).Validate();
            Analyze(p.GetValue(RunDirOption)!, p.GetValue(OutOption)!, p.GetValue(DataOption), ParseAccelerator(p.GetValue(AcceleratorOption)!), evaluation);
            return 0;
        }));
        return cmd;
    }

    static void Analyze(string runDir, string outDir, string? dataDir, AcceleratorChoice accelerator, Analysis.EvaluationOptions evaluation)
    {
        var report = Analysis.LatentAnalysis.Run(new Analysis.AnalysisOptions(runDir, outDir, dataDir, accelerator, evaluation), Print);
        Console.WriteLine($"Report: {Path.Combine(outDir, "report.md")}");
        Console.WriteLine(report.Summary);
    }

    static Command RunCommand()
    {
        var cmd = new Command("run", "train, then analyze and evaluate into the same folder: the whole job");
        AddTrainOptions(cmd);
        cmd.Options.Add(SamplesOption);
        cmd.Options.Add(EvalImagesOption);
        cmd.SetAction(p => Guard(() =>
        {
            var options = ReadTrainOptions(p);
            // A quick run (--max-batches) evaluates a quick sample too, unless --eval-images says otherwise.
            int? evalImages = p.GetValue(EvalImagesOption) ?? (options.MaxBatches is null ? null : QuickRunEvalImages);
            // Checked before training, so a bad --k does not surface an hour later.
            var evaluation = new Analysis.EvaluationOptions(p.GetValue(SamplesOption), evalImages).Validate();
            options = options with { AfterTraining = Analysis.LatentAnalysis.CostInTrainingImages(10_000, evaluation) };
            int code = Train(options);
            if (code != 0) return code;
            Analyze(options.OutDir, options.OutDir, options.DataDir, options.Accelerator, evaluation);
            return 0;
        }));
        return cmd;
    }

    static Command EvaluateCommand()
    {
        var imagesOption = new Option<int?>("--images") { Description = "evaluate only the first N test images (quick checks) [default: all 10,000]" };
        var cmd = new Command("evaluate", "the numbers VAEs are compared by: test ELBO and its terms, the BCE floor, KL per dimension, active units, the IWAE bound and a class probe; writes evaluation.json, evaluation.md and classes.png")
            { RunDirOption, OutOption, SamplesOption, imagesOption, DataOption, AcceleratorOption, JsonOption };
        cmd.SetAction(p => Guard(() =>
        {
            var evaluation = new Analysis.EvaluationOptions(p.GetValue(SamplesOption), p.GetValue(imagesOption)).Validate();
            bool json = p.GetValue(JsonOption);
            // With --json, stdout holds only the document.
            Action<string> log = json ? PrintError : Print;
            string outDir = p.GetValue(OutOption)!;
            var e = Analysis.LatentAnalysis.Evaluate(new Analysis.AnalysisOptions(p.GetValue(RunDirOption)!, outDir, p.GetValue(DataOption),
                ParseAccelerator(p.GetValue(AcceleratorOption)!), evaluation), log);
            if (json) Console.WriteLine(Analysis.ReportJson.Write(e));
            else
            {
                Console.WriteLine($"Evaluation: {Path.Combine(outDir, "evaluation.md")}");
                Console.WriteLine(e.Summary);
            }
            return 0;
        }));
        return cmd;
    }

    static Command BenchCommand()
    {
        var repeatsOption = new Option<int>("--repeats") { Description = "timed runs per kernel and of the training step, >= 1 (the median is reported)", DefaultValueFactory = _ => 5 };
        var batchOption = new Option<int>("--batch") { Description = "images per batch, 1..60000", DefaultValueFactory = _ => 128 };
        var versionsOption = new Option<bool>("--versions") { Description = "also run the kernel lab: validate, then time as training makes them, every version of the convolution, weight gradient and GEMM at each call of the step" };
        var checkOption = new Option<bool>("--check") { Description = "with --versions, also run every kernel against the reference first (without --versions it always runs)" };
        var cmd = new Command("bench", "time every kernel at a model's shapes (the default model unless --channels, --c1 ... say) and whole training steps")
        {
            AcceleratorOption, JsonOption, repeatsOption, batchOption, versionsOption, checkOption, LatentOption, C1Option, C2Option, ChannelsOption, KernelOption, ImageOption,
        };
        cmd.SetAction(p => Guard(() =>
        {
            using var device = ComputeDevice.Create(ParseAccelerator(p.GetValue(AcceleratorOption)!));
            bool json = p.GetValue(JsonOption);
            var model = ModelOf(p);
            Tuner.Apply(device, model, p.GetValue(batchOption), allowTuning: false, json ? PrintError : Print);
            bool versions = p.GetValue(versionsOption);
            var result = Benchmark.Run(device, p.GetValue(batchOption), p.GetValue(repeatsOption), json ? null : Print, versions,
                check: !versions || p.GetValue(checkOption), model: model);
            if (json) Console.WriteLine(result.ToJson());
            return result.AllAgree && result.Lab.All(r => r.Passed) ? 0 : 2;
        }));
        return cmd;
    }

    /// <summary>The model lab and tune time: --c1/--c2 or --channels, --latent, --kernel, on --image.</summary>
    static Model.VaeConfig ModelOf(ParseResult p)
    {
        var (c, h, w) = p.GetValue(ImageOption) is { } image ? Model.VaeConfig.ParseImage(image) : (1, 28, 28);
        var model = p.GetValue(ChannelsOption) is { } channels
            ? Model.VaeConfig.FromChannels(Model.VaeConfig.ParseChannels(channels), p.GetValue(LatentOption) ?? 16, p.GetValue(KernelOption) ?? 3)
            : new Model.VaeConfig(p.GetValue(C1Option) ?? 16, p.GetValue(C2Option) ?? 32, p.GetValue(LatentOption) ?? 16, p.GetValue(KernelOption) ?? 3);
        return model.ForImages(c, h, w).Validate();
    }

    static Command LabCommand()
    {
        var familyOption = new Option<string>("--family") { Description = $"the kernel family: {string.Join(" | ", KernelLab.Families)}", Required = true };
        var versionOption = new Option<string?>("--version") { Description = "one version: v6, 6 or its kernel's name (LanePairs) [default: every version]" };
        var callOption = new Option<int?>("--call") { Description = "one of the family's calls in a training step, numbered from 1 (--list shows them) [default: every call]" };
        var listOption = new Option<bool>("--list") { Description = "list the family's calls in a training step, numbered, and stop" };
        var shapeOption = new Option<string?>("--shape") { Description = "one call at a shape of your own instead of the step's: batch,in,out,height,width,kernel (conv, weight-grad) or M,N,K (gemm)" };
        var repeatsOption = new Option<int>("--repeats") { Description = "timed calls per version, >= 1 (the median is reported)", DefaultValueFactory = _ => 5 };
        var coldOption = new Option<bool>("--cold") { Description = $"write {KernelHarness.ColdBytes >> 20} MiB before each timed call, so the call finds its data in memory as the training step does (default: in cache from the call before)" };
        var cmd = new Command("lab", "validate one kernel version against the double-precision reference at one call of the training step, then time it (llm.c's ./conv_forward 7)")
        {
            familyOption, versionOption, callOption, shapeOption, listOption, AcceleratorOption, BatchOption, LatentOption, C1Option, C2Option, ChannelsOption, KernelOption, ImageOption, repeatsOption, coldOption, JsonOption,
        };
        cmd.SetAction(p => Guard(() =>
        {
            var config = ModelOf(p);
            int batch = p.GetValue(BatchOption), repeats = p.GetValue(repeatsOption);
            bool cold = p.GetValue(coldOption);
            if (batch is < 1 or > 60_000) throw new VaeException($"--batch {batch} is out of range; use 1..60000");
            if (repeats < 1) throw new VaeException($"--repeats {repeats} must be at least 1");
            string family = p.GetValue(familyOption)!;
            if (!KernelLab.Families.Contains(family)) throw new VaeException($"--family '{family}' is unknown; use {string.Join(", ", KernelLab.Families)}");
            int? version = p.GetValue(versionOption) is { } text ? KernelLab.ParseVersion(family, text) : null;
            using var device = ComputeDevice.Create(ParseAccelerator(p.GetValue(AcceleratorOption)!));
            bool json = p.GetValue(JsonOption);
            Action<string> say = json ? PrintError : Print;
            Tuner.Apply(device, config, batch, allowTuning: false, say);
            if (p.GetValue(listOption))
            {
                var all = KernelLab.Calls(device, family, config, batch);
                for (int i = 0; i < all.Count; i++) Console.WriteLine($"{i + 1,3}  {all[i].Call}");
                return 0;
            }
            if (p.GetValue(shapeOption) is not null && p.GetValue(callOption) is not null) throw new VaeException("--call and --shape each pick the call; give one of them");
            var calls = p.GetValue(shapeOption) is { } shape ? new[] { KernelLab.AtShape(family, shape) } : KernelLab.Calls(device, family, config, batch, p.GetValue(callOption));
            string timed = $"medians of {repeats} timed calls{(cold ? $", each after {KernelHarness.ColdBytes >> 20} MiB written (cold caches)" : "")}";
            say(p.GetValue(shapeOption) is not null
                ? $"lab on {device.Name}: {family}{(version is { } v0 ? $" v{v0}" : "")} at {calls[0].Call}; validated on at most {KernelLab.CheckBatch} images, then {timed}"
                : $"lab on {device.Name}: {family}{(version is { } v ? $" v{v}" : "")} at {(calls.Count == 1 ? "1 call" : $"{calls.Count} calls")} of a training step " +
                  $"({config.Describe()}, batch {batch}); validated on {KernelLab.CheckBatch} images, then {timed}");
            var rows = KernelLab.Run(device, calls, repeats, only: version is { } one ? new[] { one } : null, cold: cold);
            if (json)
                Console.WriteLine(new System.Text.Json.Nodes.JsonArray(rows.Select(r => (System.Text.Json.Nodes.JsonNode)r.ToJson()).ToArray())
                    .ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else KernelLab.Print(rows, Console.WriteLine);
            return rows.All(r => r.Passed) ? 0 : 2;
        }));
        return cmd;
    }

    static Command TuneCommand()
    {
        var repeatsOption = new Option<int>("--repeats") { Description = "timed calls per version, >= 1 (the median decides)", DefaultValueFactory = _ => 5 };
        var cmd = new Command("tune", "measure every kernel version at the calls of a training step and keep the fastest for this device (a per-user cache that train, run, analyze and bench use)")
        {
            AcceleratorOption, BatchOption, LatentOption, C1Option, C2Option, ChannelsOption, KernelOption, ImageOption, repeatsOption, JsonOption,
        };
        cmd.SetAction(p => Guard(() =>
        {
            var config = ModelOf(p);
            int batch = p.GetValue(BatchOption);
            if (batch is < 1 or > 60_000) throw new VaeException($"--batch {batch} is out of range; use 1..60000");
            // Refused before any measuring: under the switch the cache is never read or written.
            if (EnvironmentSwitches.Flag(EnvironmentSwitches.NoTune))
                throw new VaeException($"{EnvironmentSwitches.NoTune} is set, so the tuning cache is never read or written; unset it to tune");
            using var device = ComputeDevice.Create(ParseAccelerator(p.GetValue(AcceleratorOption)!));
            bool json = p.GetValue(JsonOption);
            Action<string> say = json ? PrintError : Print;
            var key = TuningCache.Key(device, config, batch);
            TuningCache.EnsureWritable(key);   // before minutes of measuring, not after
            say($"tuning on {device.Name}: {config.Describe()}, batch {batch}; medians of {p.GetValue(repeatsOption)} calls");
            var result = Tuner.Run(device, config, batch, p.GetValue(repeatsOption), say);
            string? path = null, saveError = null;
            try { path = TuningCache.Save(key, result); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { saveError = e.Message.TrimEnd('.'); }
            // The measurements are shown even when they could not be kept.
            if (json)
            {
                Console.WriteLine(new System.Text.Json.Nodes.JsonObject
                {
                    ["accelerator"] = device.Name, ["cache"] = path, ["saved"] = path is not null, ["tuned_at"] = result.Date.ToString("O"),
                    ["choices"] = new System.Text.Json.Nodes.JsonArray(result.Choices.Select(c => (System.Text.Json.Nodes.JsonNode)c.ToJson()).ToArray()),
                    ["versions"] = new System.Text.Json.Nodes.JsonArray(result.Lab.Select(r => (System.Text.Json.Nodes.JsonNode)r.ToJson()).ToArray()),
                }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                KernelLab.Print(result.Lab, Console.WriteLine);
                Console.WriteLine();
                foreach (var c in result.Choices)
                    Console.WriteLine($"{c.Family,-12} {c.Call,-72} v{c.Version} {c.Kernel}{(c.Version == c.Default ? " (the default)" : $" (default v{c.Default}: {c.DefaultSeconds * 1e3:F2} ms -> {c.Seconds * 1e3:F2} ms)")}");
                if (path is not null) Console.WriteLine($"saved: {path}");
            }
            return saveError is null ? 0 : Fail($"the tuning above could not be saved ({saveError}); fix the cache folder and tune again");
        }));
        return cmd;
    }
}
