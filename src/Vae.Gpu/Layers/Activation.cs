namespace Vae.Gpu.Layers;

/// <summary>The activation fused into a layer's forward kernel.</summary>
public enum Activation { None, Relu, Sigmoid }
