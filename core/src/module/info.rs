//! What a module declares: imports, exports, memories, tables.

use serde::Serialize;

use crate::value::ValType;

/// A function signature.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FuncType {
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result types.
    pub results: Vec<ValType>,
}

impl FuncType {
    /// A signature.
    pub fn new(params: impl Into<Vec<ValType>>, results: impl Into<Vec<ValType>>) -> Self {
        FuncType {
            params: params.into(),
            results: results.into(),
        }
    }
}

impl std::fmt::Display for FuncType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[ValType]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "({}) -> ({})", list(&self.params), list(&self.results))
    }
}

impl Serialize for FuncType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A linear memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MemoryInfo {
    /// Whether it is imported.
    pub imported: bool,
    /// Initial size in bytes.
    pub initial_bytes: u64,
    /// Declared maximum in bytes, if any.
    pub maximum_bytes: Option<u64>,
    /// Page size in bytes (64 KiB unless the custom-page-sizes proposal says otherwise).
    pub page_size: u64,
    /// 64-bit addressing.
    pub memory64: bool,
    /// Shared between threads.
    pub shared: bool,
}

/// A table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TableInfo {
    /// Whether it is imported.
    pub imported: bool,
    /// Element type, e.g. `funcref`.
    pub element: String,
    /// Initial number of elements.
    pub initial: u64,
    /// Declared maximum, if any.
    pub maximum: Option<u64>,
    /// Whether the elements are `funcref` or `externref` (nullable or not), the table types of
    /// WebAssembly 2.0; `false` for `exnref`, `anyref` and typed references.
    #[serde(skip)]
    pub plain_elements: bool,
}

/// The type of an import or export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExternType {
    /// A function.
    Func {
        /// Its signature.
        #[serde(rename = "type")]
        ty: FuncType,
    },
    /// A memory.
    Memory {
        /// Its limits.
        #[serde(flatten)]
        memory: MemoryInfo,
    },
    /// A table.
    Table {
        /// Its limits.
        #[serde(flatten)]
        table: TableInfo,
    },
    /// A global.
    Global {
        /// Its value type.
        #[serde(rename = "type")]
        ty: String,
        /// Whether it is mutable.
        mutable: bool,
    },
    /// An exception tag.
    Tag,
}

impl ExternType {
    /// `func`, `memory`, `table`, `global` or `tag`.
    pub fn kind(&self) -> &'static str {
        match self {
            ExternType::Func { .. } => "func",
            ExternType::Memory { .. } => "memory",
            ExternType::Table { .. } => "table",
            ExternType::Global { .. } => "global",
            ExternType::Tag => "tag",
        }
    }
}

/// An import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Import {
    /// Module name.
    pub module: String,
    /// Field name.
    pub name: String,
    /// What is imported.
    #[serde(flatten)]
    pub ty: ExternType,
}

/// An export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Export {
    /// Export name.
    pub name: String,
    /// What is exported.
    #[serde(flatten)]
    pub ty: ExternType,
}

/// Everything Cage learned about a module while checking it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ModuleInfo {
    /// SHA-256 of the binary, lowercase hex.
    pub sha256: String,
    /// Size of the binary in bytes.
    pub size: u64,
    /// Imports in declaration order.
    pub imports: Vec<Import>,
    /// Exports in declaration order.
    pub exports: Vec<Export>,
    /// Memories, imported first.
    pub memories: Vec<MemoryInfo>,
    /// Tables, imported first.
    pub tables: Vec<TableInfo>,
    /// Functions, imported plus defined.
    pub functions: u32,
    /// Whether the module has a start function.
    pub has_start: bool,
    /// Whether an element segment holds other references than `funcref`/`externref`
    /// (`exnref`, `anyref`, typed references; see [`crate::Capabilities`]).
    #[serde(skip)]
    pub other_element_segments: bool,
}

impl ModuleInfo {
    /// The signature of the exported function `name`, if there is one.
    pub fn export_func(&self, name: &str) -> Option<&FuncType> {
        self.exports
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| match &e.ty {
                ExternType::Func { ty } => Some(ty),
                _ => None,
            })
    }

    /// Whether the module imports anything from the import module `name`.
    pub fn imports_from(&self, name: &str) -> bool {
        self.imports.iter().any(|i| i.module == name)
    }
}
