// Dumps Apache Kafka's broker and topic ConfigDefs as a Rust source file.
// Driven by ./run in this folder, which compiles this file against the Kafka
// jars that pom.xml resolves. Usage: KafkaConfigCatalog EXPECTED_VERSION OUT.rs

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.utils.internals.AppInfoParser;
import org.apache.kafka.server.config.AbstractKafkaConfig;
import org.apache.kafka.server.config.ConfigSynonym;
import org.apache.kafka.server.config.DynamicBrokerConfig;
import org.apache.kafka.server.config.DynamicConfig;
import org.apache.kafka.server.config.ServerTopicConfigSynonyms;
import org.apache.kafka.storage.internals.log.LogConfig;

public class KafkaConfigCatalog {
    private static final List<String> otherValidators = new ArrayList<>();
    private static String scope = "";

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: KafkaConfigCatalog EXPECTED_KAFKA_VERSION OUT.rs");
            System.exit(2);
        }
        String version = AppInfoParser.getVersion();
        if (!version.equals(args[0])) {
            throw new IllegalStateException("jars are Kafka " + version + ", expected " + args[0]);
        }

        // Broker: the full KafkaConfig definition, plus the broker-level keys
        // that only the dynamic-config definition knows (quota rates).
        Map<String, ConfigDef.ConfigKey> broker = new TreeMap<>(AbstractKafkaConfig.CONFIG_DEF.configKeys());
        Set<String> dynamicOnly = new TreeSet<>();
        for (Map.Entry<String, ConfigDef.ConfigKey> e : DynamicConfig.Broker.configKeys().entrySet()) {
            if (broker.putIfAbsent(e.getKey(), e.getValue()) == null) dynamicOnly.add(e.getKey());
        }
        Set<String> allDynamic = new TreeSet<>(DynamicBrokerConfig.ALL_DYNAMIC_CONFIGS);
        allDynamic.addAll(dynamicOnly);
        Map<String, String> modes = DynamicBrokerConfig.dynamicConfigUpdateModes();

        Map<String, ConfigDef.ConfigKey> topic = new TreeMap<>(LogConfig.configKeys());
        Map<String, String> primarySynonym = ServerTopicConfigSynonyms.TOPIC_CONFIG_SYNONYMS;
        Map<String, List<ConfigSynonym>> allSynonyms = ServerTopicConfigSynonyms.ALL_TOPIC_CONFIG_SYNONYMS;

        StringBuilder out = new StringBuilder();
        header(out, version);

        int dynamicCount = 0;
        scope = "broker ";
        out.append("/// Every broker setting Kafka ").append(version)
           .append(" defines, sorted by name.\n");
        out.append("#[rustfmt::skip]\n");
        out.append("pub const BROKER: &[KafkaConfigKey] = &[\n");
        for (ConfigDef.ConfigKey k : broker.values()) {
            boolean dynamic = allDynamic.contains(k.name);
            if (dynamic) dynamicCount++;
            String mode = modes.get(k.name);
            String update;
            if (!dynamic) update = "ReadOnly";
            else if ("per-broker".equals(mode)) update = "PerBroker";
            else if ("cluster-wide".equals(mode)) update = "ClusterWide";
            // Broker quota rates: settable per broker or as the cluster default.
            else if (mode == null && dynamicOnly.contains(k.name)) update = "ClusterWide";
            else throw new IllegalStateException("unknown update mode " + mode + " for " + k.name);
            out.append("    KafkaConfigKey { name: ").append(str(k.name))
               .append(", kind: Kind::").append(kind(k.type))
               .append(", default: ").append(dflt(k))
               .append(", importance: Importance::").append(importance(k.importance))
               .append(", internal: ").append(k.internalConfig)
               .append(", dynamic: ").append(dynamic)
               .append(", update: Update::").append(update)
               .append(", check: ").append(check(k.name, k.validator))
               .append(" },\n");
        }
        out.append("];\n\n");

        for (String t : primarySynonym.keySet()) {
            if (!topic.containsKey(t)) throw new IllegalStateException("synonym for unknown topic key " + t);
        }
        scope = "topic ";
        out.append("/// Every topic setting Kafka ").append(version)
           .append(" defines, sorted by name.\n");
        out.append("#[rustfmt::skip]\n");
        out.append("pub const TOPIC: &[KafkaTopicKey] = &[\n");
        for (ConfigDef.ConfigKey k : topic.values()) {
            String syn = primarySynonym.get(k.name);
            List<ConfigSynonym> syns = allSynonyms.getOrDefault(k.name, List.of());
            List<String> synNames = new ArrayList<>();
            for (ConfigSynonym s : syns) synNames.add(s.name());
            out.append("    KafkaTopicKey { name: ").append(str(k.name))
               .append(", kind: Kind::").append(kind(k.type))
               .append(", default: ").append(dflt(k))
               .append(", importance: Importance::").append(importance(k.importance))
               .append(", internal: ").append(k.internalConfig)
               .append(", broker_synonym: ").append(syn == null ? "None" : "Some(" + str(syn) + ")")
               .append(", broker_synonyms: ").append(strs(synNames))
               .append(", check: ").append(check(k.name, k.validator))
               .append(" },\n");
        }
        out.append("];\n");

        Files.writeString(Path.of(args[1]), out.toString(), StandardCharsets.UTF_8);
        System.err.printf("kafka %s: %d broker keys (%d dynamic, %d only in the dynamic broker definition), %d topic keys%n",
                version, broker.size(), dynamicCount, dynamicOnly.size(), topic.size());
        if (!otherValidators.isEmpty()) {
            System.err.println("validators left as Check::Other:");
            for (String s : otherValidators) System.err.println("  " + s);
        }
    }

    private static void header(StringBuilder out, String version) {
        out.append("// @generated by scripts/kafka-config-catalog/run from the ConfigDefs in the\n");
        out.append("// Apache Kafka ").append(version).append(" jars. Do not edit by hand: change the dumper and rerun it.\n");
        out.append("//\n");
        out.append("// Names, types, defaults (as DescribeConfigs renders them), importance and\n");
        out.append("// validators of every broker and topic setting Kafka knows, so that\n");
        out.append("// AlterConfigs can accept and check settings Odradek itself does not use.\n");
        out.append("\n");
        out.append("#![allow(dead_code)]\n\n");
        out.append(String.join("\n",
            "/// A setting's `ConfigDef.Type`.",
            "#[derive(Clone, Copy, Debug, PartialEq, Eq)]",
            "pub enum Kind {",
            "    Boolean,",
            "    String,",
            "    Int,",
            "    Short,",
            "    Long,",
            "    Double,",
            "    List,",
            "    Class,",
            "    Password,",
            "}",
            "",
            "/// A setting's `ConfigDef.Importance`.",
            "#[derive(Clone, Copy, Debug, PartialEq, Eq)]",
            "pub enum Importance {",
            "    High,",
            "    Medium,",
            "    Low,",
            "}",
            "",
            "/// How a setting's default is declared.",
            "#[derive(Clone, Copy, Debug, PartialEq, Eq)]",
            "pub enum DefaultValue {",
            "    /// The default, rendered as DescribeConfigs renders it.",
            "    Value(&'static str),",
            "    /// The default is null.",
            "    Null,",
            "    /// No default: the setting must be given.",
            "    Required,",
            "}",
            "",
            "/// Whether, and at which scope, a broker setting may change at runtime",
            "/// (`DynamicBrokerConfig.dynamicConfigUpdateModes()`).",
            "#[derive(Clone, Copy, Debug, PartialEq, Eq)]",
            "pub enum Update {",
            "    /// Only in the broker's static configuration.",
            "    ReadOnly,",
            "    /// Dynamic, but only for one broker at a time.",
            "    PerBroker,",
            "    /// Dynamic, as the cluster-wide default or for one broker.",
            "    ClusterWide,",
            "}",
            "",
            "/// A setting's validator, in a form code can apply.",
            "#[derive(Clone, Copy, Debug, PartialEq, Eq)]",
            "pub enum Check {",
            "    None,",
            "    /// `ConfigDef.Range`: inclusive bounds, written as Kafka prints the",
            "    /// bound's number (integer, or decimal for doubles).",
            "    Range {",
            "        min: Option<&'static str>,",
            "        max: Option<&'static str>,",
            "    },",
            "    /// `ConfigDef.ValidString`: one of these, matched exactly.",
            "    OneOf(&'static [&'static str]),",
            "    /// `ConfigDef.CaseInsensitiveValidString`: one of these, ignoring case.",
            "    OneOfIgnoreCase(&'static [&'static str]),",
            "    /// `ConfigDef.ValidList`: no duplicate items; each item one of",
            "    /// `allowed` (any item when `allowed` is empty); an empty list only",
            "    /// when `empty_ok`; null only when `null_ok`.",
            "    List {",
            "        allowed: &'static [&'static str],",
            "        empty_ok: bool,",
            "        null_ok: bool,",
            "    },",
            "    /// `ConfigDef.ListSize`: at most this many items.",
            "    MaxItems(u32),",
            "    /// `ConfigDef.NonEmptyString`.",
            "    NonEmpty,",
            "    /// `ConfigDef.NonEmptyStringWithoutControlChars`.",
            "    NonEmptyNoControlChars,",
            "    /// `ConfigDef.NonNullValidator`.",
            "    NonNull,",
            "    /// `ConfigDef.CompositeValidator`: every one of these.",
            "    All(&'static [Check]),",
            "    /// Any other validator, by its `toString()`.",
            "    Other(&'static str),",
            "}",
            "",
            "/// A broker setting.",
            "#[derive(Clone, Copy, Debug, PartialEq, Eq)]",
            "pub struct KafkaConfigKey {",
            "    pub name: &'static str,",
            "    pub kind: Kind,",
            "    pub default: DefaultValue,",
            "    pub importance: Importance,",
            "    /// Kafka marks it internal: left out of its documentation.",
            "    pub internal: bool,",
            "    /// In `DynamicBrokerConfig.ALL_DYNAMIC_CONFIGS`, or a broker quota.",
            "    pub dynamic: bool,",
            "    pub update: Update,",
            "    pub check: Check,",
            "}",
            "",
            "/// A topic setting.",
            "#[derive(Clone, Copy, Debug, PartialEq, Eq)]",
            "pub struct KafkaTopicKey {",
            "    pub name: &'static str,",
            "    pub kind: Kind,",
            "    pub default: DefaultValue,",
            "    pub importance: Importance,",
            "    /// Kafka marks it internal: left out of its documentation.",
            "    pub internal: bool,",
            "    /// The broker setting that supplies its default.",
            "    pub broker_synonym: Option<&'static str>,",
            "    /// Every broker setting that may supply its default, in Kafka's",
            "    /// order (most specific first; Kafka converts hours and minutes).",
            "    pub broker_synonyms: &'static [&'static str],",
            "    pub check: Check,",
            "}",
            "", ""));
    }

    private static String kind(ConfigDef.Type t) {
        switch (t) {
            case BOOLEAN: return "Boolean";
            case STRING: return "String";
            case INT: return "Int";
            case SHORT: return "Short";
            case LONG: return "Long";
            case DOUBLE: return "Double";
            case LIST: return "List";
            case CLASS: return "Class";
            case PASSWORD: return "Password";
            default: throw new IllegalStateException("unknown type " + t);
        }
    }

    private static String importance(ConfigDef.Importance i) {
        switch (i) {
            case HIGH: return "High";
            case MEDIUM: return "Medium";
            case LOW: return "Low";
            default: throw new IllegalStateException("unknown importance " + i);
        }
    }

    private static String dflt(ConfigDef.ConfigKey k) {
        if (k.defaultValue == ConfigDef.NO_DEFAULT_VALUE) return "DefaultValue::Required";
        if (k.defaultValue == null) return "DefaultValue::Null";
        String s = ConfigDef.convertToString(k.defaultValue, k.type);
        if (s == null) return "DefaultValue::Null";
        return "DefaultValue::Value(" + str(s) + ")";
    }

    private static Object field(Object o, Class<?> c, String name) throws ReflectiveOperationException {
        Field f = c.getDeclaredField(name);
        f.setAccessible(true);
        return f.get(o);
    }

    private static String check(String key, ConfigDef.Validator v) throws ReflectiveOperationException {
        if (v == null) return "Check::None";
        Class<?> c = v.getClass();
        if (c == ConfigDef.Range.class) {
            Object min = field(v, c, "min");
            Object max = field(v, c, "max");
            return "Check::Range { min: " + (min == null ? "None" : "Some(" + str(min.toString()) + ")")
                + ", max: " + (max == null ? "None" : "Some(" + str(max.toString()) + ")") + " }";
        }
        if (c == ConfigDef.ValidString.class) {
            return "Check::OneOf(" + strs((Collection<?>) field(v, c, "validStrings")) + ")";
        }
        if (c == ConfigDef.CaseInsensitiveValidString.class) {
            // A Set in Kafka: sort it so the output is stable.
            return "Check::OneOfIgnoreCase(" + strs(new TreeSet<>((Collection<String>) field(v, c, "validStrings"))) + ")";
        }
        if (c == ConfigDef.ValidList.class) {
            Object vs = field(v, c, "validString");
            Collection<?> allowed = (Collection<?>) field(vs, ConfigDef.ValidString.class, "validStrings");
            return "Check::List { allowed: " + strs(allowed)
                + ", empty_ok: " + field(v, c, "isEmptyAllowed")
                + ", null_ok: " + field(v, c, "isNullAllowed") + " }";
        }
        if (c == ConfigDef.ListSize.class) {
            return "Check::MaxItems(" + field(v, c, "maxSize") + ")";
        }
        if (c == ConfigDef.NonEmptyString.class) return "Check::NonEmpty";
        if (c == ConfigDef.NonEmptyStringWithoutControlChars.class) return "Check::NonEmptyNoControlChars";
        if (c == ConfigDef.NonNullValidator.class) return "Check::NonNull";
        if (c == ConfigDef.CompositeValidator.class) {
            List<String> parts = new ArrayList<>();
            for (Object o : (List<?>) field(v, c, "validators")) parts.add(check(key, (ConfigDef.Validator) o));
            return "Check::All(&[" + String.join(", ", parts) + "])";
        }
        String s = String.valueOf(v);
        otherValidators.add(scope + key + " (" + c.getName() + "): " + s);
        return "Check::Other(" + str(s) + ")";
    }

    private static String strs(Collection<?> items) {
        List<String> parts = new ArrayList<>();
        for (Object o : items) parts.add(str(String.valueOf(o)));
        return "&[" + String.join(", ", parts) + "]";
    }

    // A Rust string literal.
    private static String str(String s) {
        StringBuilder b = new StringBuilder("\"");
        s.codePoints().forEach(cp -> {
            if (cp == '"') b.append("\\\"");
            else if (cp == '\\') b.append("\\\\");
            else if (cp == '\n') b.append("\\n");
            else if (cp == '\r') b.append("\\r");
            else if (cp == '\t') b.append("\\t");
            else if (cp >= 0x20 && cp < 0x7f) b.append((char) cp);
            else b.append(String.format("\\u{%x}", cp));
        });
        return b.append('"').toString();
    }
}
