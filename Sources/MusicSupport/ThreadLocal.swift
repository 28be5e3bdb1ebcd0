#if canImport(Glibc)
import Glibc
#endif

/// An object per thread, made on the thread's first use and released when the
/// thread ends. A POSIX key rather than Swift's task-locals: the workers are
/// plain threads, and a lookup must cost no allocation on the request path.
///
/// A value type holding only the key: reading it costs what `pthread_getspecific`
/// costs. The owner calls `delete()` when it goes away (a key lives as long as its
/// owner; the process has a limited number of them).
public struct ThreadLocal<Value: AnyObject>: @unchecked Sendable {
    @usableFromInline let key: pthread_key_t

    public init() {
        var key = pthread_key_t()
        let result = pthread_key_create(&key) { raw in
            if let raw { Unmanaged<AnyObject>.fromOpaque(raw).release() }
        }
        precondition(result == 0, "pthread_key_create failed: \(result)")
        self.key = key
    }

    /// This thread's object, made by `make` the first time.
    @inlinable
    public func value(orMake make: () throws -> Value) rethrows -> Value {
        if let raw = pthread_getspecific(key) {
            return Unmanaged<Value>.fromOpaque(raw).takeUnretainedValue()
        }
        let value = try make()
        pthread_setspecific(key, Unmanaged.passRetained(value).toOpaque())
        return value
    }

    public func delete() { pthread_key_delete(key) }
}

/// A reference per thread that the thread sets and clears itself (what it has
/// open now), not retained: the object lives on the thread's stack while set.
public struct ThreadLocalReference<Value: AnyObject>: @unchecked Sendable {
    @usableFromInline let key: pthread_key_t

    public init() {
        var key = pthread_key_t()
        let result = pthread_key_create(&key, nil)
        precondition(result == 0, "pthread_key_create failed: \(result)")
        self.key = key
    }

    /// What this thread set, if anything.
    @inlinable
    public var value: Value? {
        pthread_getspecific(key).map { Unmanaged<Value>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Whether this thread has set one.
    @inlinable
    public var isSet: Bool { pthread_getspecific(key) != nil }

    @inlinable
    public func set(_ value: Value?) {
        pthread_setspecific(key, value.map { Unmanaged.passUnretained($0).toOpaque() })
    }

    public func delete() { pthread_key_delete(key) }
}
