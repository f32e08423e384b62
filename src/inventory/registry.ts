import type { Field, Resource } from './model.js';

/** All NetBox-shaped resources, found by object type or path, with who refers to whom. */
export class ResourceRegistry {
  private readonly byType = new Map<string, Resource>();

  constructor(resources: readonly Resource[]) {
    for (const resource of resources) this.byType.set(resource.objectType, resource);
    for (const resource of resources) {
      for (const [name, field] of Object.entries(resource.fields)) {
        if (field.type === 'ref' && !this.byType.has(field.to)) {
          throw new Error(`${resource.objectType}.${name} refers to unknown resource ${field.to}`);
        }
      }
    }
  }

  all(): Resource[] {
    return [...this.byType.values()];
  }

  get(objectType: string): Resource {
    const resource = this.byType.get(objectType);
    if (!resource) throw new Error(`unknown resource ${objectType}`);
    return resource;
  }

  /** Reference fields of other resources (or this one) that point at `objectType`. */
  referencesTo(objectType: string): Array<{ resource: Resource; name: string; field: Extract<Field, { type: 'ref' }> }> {
    const out: Array<{ resource: Resource; name: string; field: Extract<Field, { type: 'ref' }> }> = [];
    for (const resource of this.byType.values()) {
      for (const [name, field] of Object.entries(resource.fields)) {
        if (field.type === 'ref' && field.to === objectType) out.push({ resource, name, field });
      }
    }
    return out;
  }

  /** Polymorphic references (type + id field pairs) that may point at `objectType`. */
  polymorphicReferencesTo(objectType: string): Array<{ resource: Resource; typeField: string; idField: string }> {
    const out: Array<{ resource: Resource; typeField: string; idField: string }> = [];
    for (const resource of this.byType.values()) {
      for (const ref of resource.polymorphicRefs ?? []) {
        if (ref.types.includes(objectType)) out.push({ resource, typeField: ref.typeField, idField: ref.idField });
      }
    }
    return out;
  }
}

/** The column that stores a field. */
export function columnOf(name: string, field: Field): string {
  return field.column ?? (field.type === 'ref' ? `${name}_id` : name);
}

/** Tags belong to everything but tags themselves. */
export function hasTags(resource: Resource): boolean {
  return resource.objectType !== 'extras.tag';
}
