using System.Text.Json;
using System.Text.Json.Serialization;

namespace Vae.Gpu.IO;

/// <summary>
/// Numbers bound for JSON, in one place: System.Text.Json refuses NaN and infinities, so they are written as
/// null, and a null read back where a number belongs is NaN.
/// </summary>
public static class JsonNumbers
{
    public static double? Finite(double? value) => value is { } v && double.IsFinite(v) ? v : null;

    /// <summary>Serializer options with <see cref="NonFiniteAsNull"/> (and indentation).</summary>
    public static JsonSerializerOptions Options { get; } = new() { WriteIndented = true, Converters = { new NonFiniteAsNull() } };

    /// <summary>Writes a non-finite double as null and reads null as NaN.</summary>
    public sealed class NonFiniteAsNull : JsonConverter<double>
    {
        public override bool HandleNull => true;

        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
        {
            if (double.IsFinite(value)) writer.WriteNumberValue(value);
            else writer.WriteNullValue();
        }
    }
}
