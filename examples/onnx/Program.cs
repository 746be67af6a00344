using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

// decoder.onnx from `vae-gpu export-onnx`: z [N, lat] -> images [N, C, H, W] in (0, 1).
using var session = new InferenceSession(args[0]);
int lat = session.InputMetadata["z"].Dimensions[1];
var z = new DenseTensor<float>(new float[2 * lat], new[] { 2, lat });   // two latent vectors: 0 and 0.5
for (int d = 0; d < lat; d++) z[1, d] = 0.5f;
using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("z", z) });
var images = results.First().AsTensor<float>();
Console.WriteLine($"images [{string.Join(", ", images.Dimensions.ToArray())}], mean {images.Average():F4}");
