namespace Vae.Gpu.IO;

/// <summary>Numbers bound for JSON: System.Text.Json refuses NaN and infinities, so they are written as null.</summary>
public static class JsonNumbers
{
    public static double? Finite(double? value) => value is { } v && double.IsFinite(v) ? v : null;
}
