using Vae.Gpu.Data;
using Vae.Gpu.Devices;
using Vae.Gpu.Model;
using Vae.Gpu.Optim;
using Vae.Gpu.Tensors;

// Fashion-MNIST from the folder given, else $FASHION_MNIST_DIR, Debian's dataset-fashion-mnist, or a download.
var (train, _) = FashionMnist.Load(args.Length > 0 ? args[0] : null);
using var device = ComputeDevice.Create(AcceleratorChoice.Auto);
Console.WriteLine($"accelerator: {device.Name}");

using var vae = new VAE(device, c1: 16, c2: 32, lat: 16, k: 3);
using var adam = new Adam(vae.Parameters);                     // lr 1e-3, betas 0.9/0.999, eps 1e-8
const int batch = 64;
for (int step = 0; step < 5; step++)
{
    // A batch of images (B, 1, 28, 28) with pixels in [0, 1].
    using var x = Tensor.FromArray(device, train.Images(step * batch, batch), batch, 1, 28, 28);

    // The problem set's pieces: encode, sample with the reparameterization trick, decode, the two loss terms.
    var (mu, sigma) = vae.Encoder.Forward(x);
    var z = vae.Gaussian(mu, sigma);
    var y = vae.Decoder.Forward(z);
    Console.WriteLine($"step {step}: RLoss {vae.RLoss(x, y):F1}, KlLoss {vae.KlLoss(mu, sigma):F1}");

    // A training step: Forward stores Loss (RLoss + KlLoss), Backward fills every gradient, Adam updates.
    adam.ZeroGrad();
    vae.Forward(x);
    vae.Backward();
    adam.Step();
    Console.WriteLine($"step {step}: loss {vae.Loss / batch:F2} per image");
}
